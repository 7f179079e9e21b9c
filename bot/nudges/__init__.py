"""Nudges: the periodic tick that finds users whose nudge fell due, runs the coach for them
through the service and sends what the coach says via the outbox (tick.py)."""
