"""How the coach's replies look in Telegram, and how Telegram input reads back as coach events.

Pure functions, no network: `keyboard(reply)` renders a reply's choices as an inline keyboard
whose callback data is `callback_data(step_no, choice_id)`; `parse_callback_data(data)` reads
it back strictly (None for anything malformed); `answered_text(question, label)` is what a
pressed question shows afterwards; `fits(text, limit)` says whether Telegram takes a text or a
caption that long, `goes_as_caption(reply)` whether a reply is its picture's caption;
`input_kind(message)` names what a non-text message carries;
`zone_near(latitude, longitude)` turns a shared location into an IANA time zone.

    >>> callback_data(12, "steady")
    'v1:12:steady'
    >>> parse_callback_data("v1:12:steady")
    PressedButton(step_no=12, choice_id='steady')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from conversations.replies import Reply

CALLBACK_VERSION = "v1"
# Version, the question's step number (empty: "whatever is waiting"), the choice id. Choice ids
# are short words, times ("07:00") and zone names ("America/New_York").
_MAX_DATA = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # bytes
_CALLBACK = re.compile(r"v1:(0|[1-9][0-9]{0,17})?:([A-Za-z0-9_./+:-]{1,48})")
ANSWER_ARROW = "→"
# What a message can carry besides text, in the order we name it (a photo with a caption is a
# photo). Anything else is just "message".
_KINDS = (
    "sticker",
    "photo",
    "voice",
    "video_note",
    "video",
    "animation",
    "audio",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)


@dataclass(frozen=True)
class PressedButton:
    """What a button's callback data says: the question it belongs to and the choice."""

    step_no: int | None
    choice_id: str


def callback_data(step_no: int | None, choice_id: str) -> str:
    """The versioned callback data of one button; raises if Telegram would refuse it."""
    data = f"{CALLBACK_VERSION}:{'' if step_no is None else step_no}:{choice_id}"
    if len(data.encode()) > _MAX_DATA or not _CALLBACK.fullmatch(data):
        raise ValueError(f"choice id {choice_id!r} cannot be carried in callback data")
    return data


def parse_callback_data(data: object) -> PressedButton | None:
    """The button a callback data string names, or None when it is not one of ours."""
    if not isinstance(data, str) or len(data.encode()) > _MAX_DATA:
        return None
    match = _CALLBACK.fullmatch(data)
    if match is None:
        return None
    step, choice_id = match.groups()
    return PressedButton(None if step is None else int(step), choice_id)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's choices as inline buttons, `reply.columns` to a row (None without choices)."""
    if not reply.choices:
        return None
    columns = max(1, reply.columns)
    buttons = [
        InlineKeyboardButton(choice.label, callback_data=callback_data(reply.step_no, choice.id))
        for choice in reply.choices
    ]
    return InlineKeyboardMarkup(
        [buttons[start : start + columns] for start in range(0, len(buttons), columns)]
    )


def fits(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> bool:
    """Whether Telegram takes `text` as a message (or, with `MessageLimit.CAPTION_LENGTH`, as a
    caption). Counted in UTF-16 code units, as Telegram counts entities: an emoji beyond the
    basic plane counts twice, so the count is never below Telegram's."""
    return len(text.encode("utf-16-le")) // 2 <= limit


def goes_as_caption(reply: Reply) -> bool:
    """Whether a reply with a picture is the picture's caption, one message: when its text
    fits a caption and it is not a running set's live message (edited as text later)."""
    return not reply.live and fits(reply.text, MessageLimit.CAPTION_LENGTH)


def answered_text(
    question: str, label: str, limit: int = MessageLimit.MAX_TEXT_LENGTH
) -> str | None:
    """The question with the chosen answer below it; None if that would be too long to edit
    (`limit`: a caption's for a question that is a picture's caption)."""
    text = f"{question}\n\n{ANSWER_ARROW} {label}"
    return text if fits(text, limit) else None


def input_kind(message: Message) -> str:
    """What a message without readable text carries: "sticker", "photo", ... or "message"."""
    for kind in _KINDS:
        if getattr(message, kind, None):
            return kind
    return "message"


# --- a shared location as a time zone -----------------------------------------------------------

_COORDINATES = re.compile(r"([+-])(\d{2})(\d{2})(\d{2})?([+-])(\d{3})(\d{2})(\d{2})?")


def _degrees(sign: str, whole: str, minutes: str, seconds: str | None) -> float:
    value = int(whole) + int(minutes) / 60 + int(seconds or 0) / 3600
    return -value if sign == "-" else value


def _zone_table_text() -> str | None:
    # tzdata is a dependency (zoneinfo's data on every platform); the system copy is a fallback.
    try:
        return (resources.files("tzdata.zoneinfo") / "zone1970.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        system = Path("/usr/share/zoneinfo/zone1970.tab")
        return system.read_text(encoding="utf-8") if system.exists() else None


@cache
def _zone_places() -> tuple[tuple[float, float, str], ...]:
    """Every canonical zone with the position of its principal place, from tzdata."""
    text = _zone_table_text() or ""
    places: list[tuple[float, float, str]] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        match = _COORDINATES.fullmatch(fields[1])
        if match is None:
            continue
        lat_sign, lat_d, lat_m, lat_s, lon_sign, lon_d, lon_m, lon_s = match.groups()
        places.append(
            (
                _degrees(lat_sign, lat_d, lat_m, lat_s),
                _degrees(lon_sign, lon_d, lon_m, lon_s),
                fields[2],
            )
        )
    return tuple(places)


def zone_near(latitude: float, longitude: float) -> str | None:
    """The IANA zone whose principal place is nearest; a good guess away from borders."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    lat, lon = math.radians(latitude), math.radians(longitude)

    def distance(place: tuple[float, float, str]) -> float:
        other_lat, other_lon = math.radians(place[0]), math.radians(place[1])
        # Haversine, without the constant factors: only the order matters.
        return (
            math.sin((other_lat - lat) / 2) ** 2
            + math.cos(lat) * math.cos(other_lat) * math.sin((other_lon - lon) / 2) ** 2
        )

    places = _zone_places()
    return min(places, key=distance)[2] if places else None
