"""The terminal adapter: the same coach in a local text chat (chat.py), which also writes the
/progress chart and the /export files into a folder."""
