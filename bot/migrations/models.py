"""Every module that defines tables: migrations and the schema test import them all."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("bot.store", "bot.outbox", "bot.picture_files")


def import_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # a module that is there but fails to import: say so
                raise
