"""The store: tables, the engine and one transaction per event (db.py), the outbox of nudges
waiting to be sent, the shared send budget, Telegram file ids of pictures, and the Alembic
migrations. It imports nothing from the service, the nudges, the reports or the adapters:
they import it."""
