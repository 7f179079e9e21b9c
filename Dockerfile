# Spine Coach: the bot as a container. Configuration only through environment variables
# (see README.md, "Configuration"); no token or secret is baked into the image.
#
#   docker build -t spine-coach .
#   docker run -d -e TELEGRAM_BOT_TOKEN=... -v spine-coach-data:/data spine-coach
#
# Stage 1 builds a virtual environment from pyproject.toml (every dependency pinned there);
# stage 2 is the same slim base with only that environment copied in: no build tools, no sources.
# Pinned to one patch release of Python 3.11 on Debian 12, so a rebuild gets the same runtime.

FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY schedules ./schedules
COPY data ./data
# A regular (not editable) install: the packages and data/*.yaml land inside /opt/venv.
RUN pip install --no-cache-dir .


FROM python:3.11.14-slim-bookworm

# An unprivileged user that owns only /data, where the SQLite file lives.
RUN groupadd --system --gid 10001 coach \
    && useradd --system --no-log-init --uid 10001 --gid coach \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin coach \
    && mkdir /data \
    && chown coach:coach /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////data/spine-coach.sqlite3 \
    PICTURES_DIR=/data/pictures \
    LIVENESS_FILE=/tmp/spine-coach.alive

WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
# Only used in webhook mode (WEBHOOK_URL set); long polling needs no open port.
EXPOSE 8443

# The polling loop (and the webhook server) touch LIVENESS_FILE from a repeating job;
# `python -m bot health` exits 1 when it has gone stale. See bot/health.py.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "health"]

# Exec form, no shell in between: SIGTERM from `docker stop` reaches Python itself, and
# python-telegram-bot stops fetching, finishes the update in hand and shuts down cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
