"""Adapters and wiring: the entry point, settings, the store, the terminal and Telegram chats."""
