"""Tests of the fake Bot API server, driven by PTB's real ``telegram.Bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from tests.fake_bot_api import FakeApiTimeout, FakeBotApi

CHAT = 4242


@pytest.fixture
def fake():
    with FakeBotApi() as api:
        yield api
    assert api.server_errors == []


def make_bot(fake: FakeBotApi, token: str | None = None) -> Bot:
    return Bot(token or fake.token, base_url=fake.base_url)


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"cb:{label.lower()}") for label in labels]]
    )


async def test_get_me(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        me = await bot.get_me()
    assert me.id == 123456
    assert me.username == fake.bot_username
    assert me.is_bot
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]  # initialize() + get_me()


async def test_send_message_press_button_and_get_updates(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        sent = await bot.send_message(CHAT, "Ready to train?", reply_markup=keyboard("Yes", "No"))
        stored = fake.last_message(CHAT)
        assert stored is not None
        assert stored.message_id == sent.message_id
        assert stored.text == "Ready to train?"
        assert stored.button_labels == ["Yes", "No"]
        assert sent.reply_markup == keyboard("Yes", "No")

        pressed = fake.press_button(CHAT, "yes")  # case-insensitive
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [pressed["update_id"]]
        query = updates[0].callback_query
        assert query is not None
        assert query.data == "cb:yes"
        assert query.from_user.id == CHAT
        assert query.message is not None
        assert query.message.message_id == sent.message_id
        assert query.message.text == "Ready to train?"

        assert await bot.answer_callback_query(query.id, text="Great!")
        assert fake.callback_answer(query.id).text == "Great!"
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await bot.answer_callback_query(query.id)  # a query is answered only once

        # Confirming with offset removes the update; it is never delivered again.
        assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
        assert fake.pending_updates == []

    with pytest.raises(LookupError, match="Maybe"):
        fake.press_button(CHAT, "Maybe")


async def test_long_poll_returns_promptly_when_update_queued(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.3)) == ()
        assert time.monotonic() - started >= 0.25  # it really waited for the timeout

        poll = asyncio.create_task(bot.get_updates(timeout=dtm.timedelta(seconds=20)))
        await fake.await_polling(timeout=5)
        fake.send_command(CHAT, "/start hello")
        # Well before the poll's own 20 s: it returned because of the update (however loaded
        # the machine, a bound on elapsed time would race it).
        updates = await asyncio.wait_for(poll, timeout=15)
        message = updates[0].message
        assert message.text == "/start hello"
        assert message.entities[0].type == "bot_command"
        assert message.entities[0].length == len("/start")
        assert message.chat.type == "private"

        fake.send_text(CHAT, "second")
        fake.send_location(CHAT, 52.5, 13.4)
        again = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
        assert [u.message.text for u in again] == ["second", None]
        assert again[1].message.location.latitude == 52.5
        assert again[0].update_id > updates[-1].update_id


async def test_concurrent_get_updates_conflict(fake: FakeBotApi) -> None:
    async with make_bot(fake) as first, make_bot(fake) as second:
        poll = asyncio.create_task(first.get_updates(timeout=dtm.timedelta(seconds=20)))
        await fake.await_polling(timeout=5)
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(poll, timeout=5)


async def test_retry_after_injection(fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without PTB_TIMEDELTA, RetryAfter() itself emits a PTBDeprecationWarning (-> error here).
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    fake.fail_next("sendMessage", 429, retry_after=7)
    async with make_bot(fake) as bot:
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(CHAT, "hi")
        assert info.value.retry_after == dtm.timedelta(seconds=7)
        assert fake.messages(CHAT) == []  # the failed call had no effect
        await bot.send_message(CHAT, "hi again")
    assert [m.text for m in fake.messages(CHAT)] == ["hi again"]
    assert len(fake.calls_to("sendMessage")) == 2


async def test_forbidden_injection_and_blocked_user(fake: FakeBotApi) -> None:
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", times=2)
    async with make_bot(fake) as bot:
        for _ in range(2):
            with pytest.raises(Forbidden, match="blocked by the user"):
                await bot.send_message(CHAT, "hi")
        await bot.send_message(CHAT, "third time lucky")

        fake.block(CHAT)
        with pytest.raises(Forbidden):
            await bot.send_chat_action(CHAT, "typing")
        fake.unblock(CHAT)
        assert await bot.send_chat_action(CHAT, "typing")
    assert fake.chat_actions(CHAT) == ["typing"]
    assert [m.text for m in fake.messages(CHAT)] == ["third time lucky"]


async def test_identical_edit_is_rejected(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        sent = await bot.send_message(CHAT, "Set 1 of 3", reply_markup=keyboard("Done"))
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text(
                "Set 1 of 3", CHAT, sent.message_id, reply_markup=keyboard("Done")
            )
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_reply_markup(
                CHAT, sent.message_id, reply_markup=keyboard("Done")
            )

        edited = await bot.edit_message_text(
            "Set 2 of 3", CHAT, sent.message_id, reply_markup=keyboard("Done")
        )
        assert edited.text == "Set 2 of 3"
        assert edited.edit_date is not None
        # Same text but no reply_markup: Telegram drops the keyboard, so it *is* a change.
        await bot.edit_message_text("Set 2 of 3", CHAT, sent.message_id)

        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("x", CHAT, 999)

    stored = fake.message(CHAT, sent.message_id)
    assert stored.text == "Set 2 of 3"
    assert stored.buttons == []
    assert [e["text"] for e in stored.edits] == ["Set 1 of 3", "Set 2 of 3"]
    assert len(fake.messages(CHAT)) == 1


async def test_unknown_method_is_rejected(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": CHAT})
    assert [c.method for c in fake.unknown_methods] == ["sendTelepathy"]
    assert fake.unknown_methods[0].params == {"chat_id": CHAT}


async def test_wrong_token_is_unauthorized(fake: FakeBotApi) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(fake, token="999:WRONG-token"):
            pass
    assert fake.calls[-1].method == "getMe"


async def test_dropped_connection_is_a_network_error(fake: FakeBotApi) -> None:
    fake.drop_next("sendMessage")
    async with make_bot(fake) as bot:
        with pytest.raises(NetworkError) as info:
            await bot.send_message(CHAT, "lost")
        assert not isinstance(info.value, (BadRequest, Forbidden))
        await bot.send_message(CHAT, "delivered")
    assert [m.text for m in fake.messages(CHAT)] == ["delivered"]


async def test_photo_document_and_commands(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary, with CRLFs inside
        await bot.send_photo(CHAT, image, caption="Pose")
        await bot.send_document(CHAT, b"a,b\r\n1,2\r\n", filename="log.csv", caption="Log")
        await bot.set_my_commands([("start", "Begin"), ("plan", "Today's plan")])
        with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Bad Command", "nope")])
    photo, document = fake.messages(CHAT)
    assert (photo.kind, photo.caption, photo.file_size) == ("photo", "Pose", len(image))
    assert (document.kind, document.file_name, document.file_size) == ("document", "log.csv", 10)
    assert fake.my_commands() == [
        {"command": "start", "description": "Begin"},
        {"command": "plan", "description": "Today's plan"},
    ]


async def test_a_captioned_animation_carries_a_keyboard_and_edits_as_a_caption(
    fake: FakeBotApi,
) -> None:
    """As Telegram: the caption is the message's only text, edited by editMessageCaption."""
    async with make_bot(fake) as bot:
        with pytest.raises(BadRequest, match="(?i)caption is too long"):
            await bot.send_animation(CHAT, b"GIF89a", caption="x" * 1025)
        sent = await bot.send_animation(
            CHAT, b"GIF89a", caption="Cat-cow: kneel.", reply_markup=keyboard("Start")
        )
        assert (sent.text, sent.caption) == (None, "Cat-cow: kneel.")
        pressed = fake.press_button(CHAT, "Start")["callback_query"]["message"]
        assert "text" not in pressed
        assert pressed["caption"] == "Cat-cow: kneel."
        with pytest.raises(BadRequest, match="(?i)no text in the message"):
            await bot.edit_message_text("Cat-cow", CHAT, sent.message_id)
        await bot.edit_message_caption(CHAT, sent.message_id, caption="Cat-cow: kneel. Start")
    (animation,) = fake.messages(CHAT)
    assert (animation.kind, animation.text) == ("animation", None)
    assert animation.caption == "Cat-cow: kneel. Start"
    assert animation.buttons == []  # an edit without reply_markup takes the keyboard away
    assert [call.method for call in fake.calls if call.method.startswith("edit")] == [
        "editMessageText",
        "editMessageCaption",
    ]


async def test_html_entities_are_validated(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        await bot.send_message(CHAT, "<b>Bird dog</b> &amp; plank", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(CHAT, "<b>unclosed", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)reserved"):
            await bot.send_message(CHAT, "Well done!", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match="(?i)too long"):
            await bot.send_message(CHAT, "x" * 4097)
    assert len(fake.messages(CHAT)) == 1


async def test_await_message_and_timeout(fake: FakeBotApi) -> None:
    async with make_bot(fake) as bot:
        fake.send_text(CHAT, "hello")

        async def reply_later() -> None:
            await asyncio.sleep(0.1)
            await bot.send_message(CHAT, "Hi! Ready for your core session?")

        task = asyncio.create_task(reply_later())
        msg = await fake.await_message(CHAT, contains="core session", timeout=5)
        await task
        assert msg.index == 0
        with pytest.raises(FakeApiTimeout, match="user: hello"):
            await fake.await_message(CHAT, contains="never", timeout=0.2)


def test_sync_use_from_plain_test() -> None:
    threads_before = set(threading.enumerate())
    with FakeBotApi() as fake:
        url = f"{fake.base_url}{fake.token}"

        def bot_side() -> None:  # what a bot subprocess would do, over keep-alive
            with httpx.Client(timeout=10) as client:
                got = client.post(f"{url}/getUpdates", data={"timeout": "5"}).json()
                update = got["result"][0]
                chat_id = update["message"]["chat"]["id"]
                client.post(f"{url}/getUpdates", data={"offset": update["update_id"] + 1})
                client.post(
                    f"{url}/sendMessage", data={"chat_id": chat_id, "text": "pong"}
                ).raise_for_status()

        worker = threading.Thread(target=bot_side)
        worker.start()
        fake.wait_for_polling(timeout=5)
        fake.send_text(7, "ping")
        msg = fake.wait_for_message(7, contains="PONG", timeout=5)
        worker.join()
        assert msg.text == "pong"
        assert fake.pending_updates == []
        with pytest.raises(FakeApiTimeout):
            fake.wait_for_message(7, timeout=0.1, after=1)
    assert set(threading.enumerate()) == threads_before


def test_stop_with_open_keep_alive_connection_and_pending_poll() -> None:
    threads_before = set(threading.enumerate())
    fake = FakeBotApi().start()
    url = f"{fake.base_url}{fake.token}"
    client = httpx.Client(timeout=30)
    result: list[object] = []

    def long_poll() -> None:
        try:
            result.append(client.post(f"{url}/getUpdates", data={"timeout": "30"}).json())
        except httpx.HTTPError as exc:
            result.append(exc)

    poller = threading.Thread(target=long_poll)
    poller.start()
    fake.wait_for_polling(timeout=5)
    fake.stop()
    poller.join(timeout=15)  # the poll asked for 30 s: ending before that, it was stopped
    client.close()
    assert not poller.is_alive()
    assert result  # the poll ended (empty result or closed connection), not hung
    assert set(threading.enumerate()) == threads_before


async def test_user_media_updates_parse_in_ptb(fake: FakeBotApi) -> None:
    fake.send_sticker(CHAT)
    fake.send_photo(CHAT, caption="my posture")
    fake.send_text(-100123, "hi group", user_id=CHAT)
    async with make_bot(fake) as bot:
        sticker, photo, group = await bot.get_updates(timeout=0)
    assert sticker.message.sticker.emoji == "\N{THUMBS UP SIGN}"
    assert photo.message.caption == "my posture"
    assert photo.message.photo[-1].width == 800
    assert group.message.chat.type == "supergroup"
    assert group.effective_user.id == CHAT


async def test_enforce_rate(fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    fake.enforce_rate(per_second=30, per_chat_per_second=1)
    async with make_bot(fake) as bot:
        await bot.send_message(CHAT, "one")
        await bot.send_message(CHAT + 1, "other chat is fine")
        with pytest.raises(RetryAfter):
            await bot.send_message(CHAT, "two")
        fake.enforce_rate(None, None)
        await bot.send_message(CHAT, "three")
    assert [m.text for m in fake.messages(CHAT)] == ["one", "three"]
