"""Write a new revision from the models: `python -m bot.store.migrations revision "what changed"`.

It upgrades a scratch SQLite database to the newest revision, compares it with the models and
writes the difference as a new file in versions/ (then formats it with ruff). To rebuild the
initial revision from scratch: delete versions/*.py, then
`python -m bot.store.migrations revision "initial schema" --rev-id 0001`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from bot.store.migrations import HERE, alembic_config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.store.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="autogenerate a revision from the models")
    revision.add_argument("message")
    revision.add_argument("--rev-id", default=None)
    args = parser.parse_args(argv)
    before = set((HERE / "versions").glob("*.py"))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'scratch.sqlite3'}"
        command.upgrade(alembic_config(url=url), "head")
        command.revision(
            alembic_config(url=url), message=args.message, autogenerate=True, rev_id=args.rev_id
        )
    written = [str(path) for path in set((HERE / "versions").glob("*.py")) - before]
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", *written], check=True)
    subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "-q", *written], check=True)
    print("\n".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
