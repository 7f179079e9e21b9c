"""The whole-bot bench: `python -m bench`."""
