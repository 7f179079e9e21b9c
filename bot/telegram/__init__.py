"""The Telegram adapter: the application and its jobs (app.py), one chat's updates (chat.py),
keyboards and texts (render.py) and sending with retries and the send budget (send.py).

`import telegram` inside this package still means the python-telegram-bot library: imports
are absolute, and this package is `bot.telegram`."""
