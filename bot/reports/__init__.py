"""Reports from the stored history: the session points they share (history.py), the /progress
chart (chart.py), the /progress details and the weekly summary (progress.py), and /export
(export.py). They return bytes or text; the adapters decide where it goes."""
