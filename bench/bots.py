"""The bots under test, each run as its own process: `python -m bench.bots coach|echo`.

* coach: the real entry point (`bot.__main__.main`), configured by the environment like
  `python -m bot`. With BENCH_UNLIMITED=1 its AIORateLimiter gets no overall rate (0 disables
  it in PTB), so the figures measure the bot's own cost, not Telegram's 30 messages a second.
  With BENCH_LONG_HOLDS=1 every hold lasts an hour: the simulated users end each hold with
  "Done", and on a slow machine a hold timer firing first would change what the bot sends
  mid-figure (and the figure would measure the timers, not the answers).
* echo: a minimal python-telegram-bot echo bot (PTB's own example) with concurrent updates,
  so that, like the coach, it is bound by CPU and not by waiting on one update at a time. A
  pressed button gets what any bot with buttons must do for it: the press answered
  (answerCallbackQuery), the pressed message marked with the answer (editMessageText), and a
  reply (sendMessage), so taps compare with taps. With BENCH_ECHO_BUTTONS=1 its replies to
  text are as long as a coach question and carry a keyboard like one.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def run_coach() -> int:
    if os.environ.get("BENCH_UNLIMITED") == "1":
        from telegram.ext import AIORateLimiter

        import bot.telegram.app as telegram_app

        def unlimited(max_retries: int = 0) -> AIORateLimiter:
            return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)

        telegram_app.AIORateLimiter = unlimited  # type: ignore[assignment,misc]
    if os.environ.get("BENCH_LONG_HOLDS") == "1":
        import data.programme as programmes

        load = programmes.load_programme

        def long_holds() -> Any:
            programme = load()
            stages = tuple(
                stage.model_copy(
                    update={
                        "exercises": tuple(
                            e.model_copy(update={"seconds": 3600}) for e in stage.exercises
                        )
                    }
                )
                for stage in programme.stages
            )
            return programme.model_copy(update={"stages": stages})

        programmes.load_programme = long_holds  # type: ignore[assignment]
    from bot.__main__ import main

    return main([])


QUESTION = (
    ": how did that set of Segmental cat-cow feel?\nSteady: form held, could do more. Working:"
    " hard but controlled. Shaky: lost form or cut it short. Pain: it hurt."
)


def run_echo() -> int:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
    from telegram.ext import (
        ApplicationBuilder,
        CallbackQueryHandler,
        ContextTypes,
        MessageHandler,
        filters,
    )

    # BENCH_ECHO_BUTTONS=1: each reply as long as a coach question and with a keyboard like
    # one, to see what sending the coach's kind of message costs a bot that does nothing else.
    buttons = os.environ.get("BENCH_ECHO_BUTTONS") == "1"
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=f"v1:1:{label}") for label in pair]
            for pair in (("Steady", "Working"), ("Shaky", "Pain"))
        ]
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        if buttons:
            text = f"{update.message.text}{QUESTION}"
            await update.message.reply_text(text, reply_markup=keyboard)
            return
        await update.message.reply_text(update.message.text or "")

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert isinstance(query.message, Message)
        await query.answer()
        await query.edit_message_text(f"{query.message.text} → {query.data}")
        await query.message.reply_text(query.data or "")

    application: Any = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(press))
    application.run_polling(timeout=10, poll_interval=0)
    return 0


def main() -> int:
    run = run_coach if sys.argv[1:] == ["coach"] else run_echo
    profile_to = os.environ.get("BENCH_PROFILE")
    if not profile_to:
        return run()
    # Profiled between two SIGUSR1s from the bench (the measured part), not start-up.
    import cProfile
    import signal

    profiler = cProfile.Profile()
    running = False

    def toggle(signum: int, frame: Any) -> None:
        nonlocal running
        if running:
            profiler.disable()
            profiler.dump_stats(f"{profile_to}.{sys.argv[1]}")
        else:
            profiler.enable()
        running = not running

    signal.signal(signal.SIGUSR1, toggle)
    return run()


if __name__ == "__main__":
    sys.exit(main())
