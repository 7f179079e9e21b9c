"""The {placeholders} the code fills in, per message key, so that the start-up check catches a
placeholder it would not fill (a typo like `{nme}`), naming the file and the key, instead of a
crash in the middle of a session.

A key listed here may use exactly its names; a key not listed (a new message) may use any name
the code fills in somewhere. Texts the code formats with new values: name them here too.
"""

from __future__ import annotations

from collections.abc import Mapping

SUPPLIED: Mapping[str, Mapping[str, frozenset[str]]] = {
    "texts": {
        "advance_another_day": frozenset(),
        "advance_at_least_days": frozenset({"days"}),
        "advance_at_top": frozenset({"n"}),
        "advance_at_top_one": frozenset({"n"}),
        "advance_below_top": frozenset({"at_top", "n", "steps"}),
        "advance_days": frozenset({"days"}),
        "advance_final": frozenset(),
        "advance_head": frozenset({"needs", "next", "next_name"}),
        "advance_held_back": frozenset(),
        "advance_min_sessions": frozenset({"min"}),
        "advance_paused": frozenset(),
        "advance_steady_means": frozenset(),
        "ask_checkin": frozenset({"question"}),
        "ask_days": frozenset(),
        "ask_experience": frozenset(),
        "ask_feel": frozenset({"name", "side"}),
        "ask_pain_kind": frozenset(),
        "ask_pain_now": frozenset(),
        "ask_pain_score": frozenset(),
        "ask_quiet": frozenset(),
        "ask_time": frozenset(),
        "ask_zone": frozenset(),
        "bad_choice": frozenset({"options"}),
        "bad_days": frozenset(),
        "bad_pain_score": frozenset(),
        "bad_pause_days": frozenset({"most"}),
        "bad_quiet": frozenset({"typed"}),
        "bad_time": frozenset({"typed"}),
        "bad_zone": frozenset({"typed"}),
        "checkin_thanks": frozenset(),
        "exercise_intro": frozenset({"cue", "dose", "how_to", "name", "number", "total"}),
        "export": frozenset(),
        "finish_session_first": frozenset(),
        "forget_confirm": frozenset(),
        "forget_kept": frozenset(),
        "forgotten": frozenset(),
        "help": frozenset(),
        "hold_done": frozenset(),
        "hold_ready": frozenset({"count", "number", "side", "what"}),
        "holding": frozenset({"seconds", "what"}),
        "idle": frozenset(),
        "location_not_needed": frozenset(),
        "morning_better": frozenset(),
        "morning_check": frozenset(),
        "morning_same": frozenset(),
        "morning_worse": frozenset(),
        "need_onboarding": frozenset(),
        "next_nudge": frozenset({"day", "time", "zone"}),
        "no_nudge": frozenset(),
        "no_session": frozenset(),
        "not_a_clinician": frozenset(),
        "not_paused": frozenset(),
        "nudge_daily": frozenset(),
        "nudge_weekly": frozenset(),
        "nudge_welcome_back": frozenset(),
        "offer_new_time": frozenset({"time"}),
        "onboarding_done": frozenset({"days", "time", "zone"}),
        "pain_now_high": frozenset(),
        "pain_ok_continue": frozenset(),
        "paused": frozenset({"days", "until"}),
        "progress": frozenset({"stage", "stage_name", "streak", "to_advance"}),
        "rescreen": frozenset(),
        "rest_then_next": frozenset({"count", "number", "rest", "what"}),
        "resumed": frozenset(),
        "safety_paused": frozenset(),
        "safety_stop": frozenset(),
        "screen_blocked": frozenset(),
        "screen_cleared": frozenset(),
        "screen_clinician_question": frozenset({"flags"}),
        "screen_urgent_question": frozenset({"flags"}),
        "session_intro": frozenset(
            {"aim", "count", "exercises", "minutes", "stage", "stage_name"}
        ),
        "session_resume": frozenset({"name", "number", "total"}),
        "session_stopped": frozenset(),
        "settings_menu": frozenset({"days", "quiet", "time", "zone"}),
        "settings_saved": frozenset(),
        "skipped": frozenset(),
        "snoozed": frozenset({"time"}),
        "stale_button": frozenset(),
        "summary": frozenset({"decision", "next_nudge", "streak", "went_well"}),
        "time_kept": frozenset(),
        "unknown_command": frozenset(),
        "unsupported_input": frozenset(),
        "welcome": frozenset(),
    },
    "reports": {
        "chart_empty": frozenset(),
        "chart_pain": frozenset(),
        "chart_safety_stop": frozenset(),
        "chart_stage": frozenset({"stage"}),
        "chart_title": frozenset(),
        "chart_x": frozenset(),
        "chart_x_date": frozenset({"first"}),
        "chart_x_dates": frozenset({"first", "last"}),
        "chart_y": frozenset(),
        "chart_y2": frozenset(),
        "details_dose_same": frozenset({"name", "now"}),
        "details_dose_up": frozenset({"name", "now", "start"}),
        "details_doses_head": frozenset(),
        "details_started": frozenset({"day", "first", "stage"}),
        "details_week": frozenset({"total", "week"}),
        "pain_fewer": frozenset({"before", "m"}),
        "pain_more": frozenset({"before", "m"}),
        "pain_none_ever": frozenset(),
        "pain_none_recent": frozenset({"before", "m", "n"}),
        "pain_recent": frozenset({"n", "r", "top", "trend"}),
        "pain_same": frozenset({"m"}),
        "terminal_chart": frozenset({"path"}),
        "terminal_forgotten_files": frozenset({"path"}),
        "terminal_not_written": frozenset({"path", "why"}),
        "terminal_saved": frozenset({"path"}),
        "week_advanced": frozenset({"stage", "stage_name", "step_word", "steps"}),
        "week_advanced_and_up": frozenset({"stage", "stage_name", "step_word", "steps"}),
        "week_dose_up": frozenset({"step_word", "steps"}),
        "week_eased": frozenset(),
        "week_kept": frozenset(),
        "week_next": frozenset({"next"}),
        "week_sessions": frozenset({"count", "stopped", "times"}),
        "week_stopped": frozenset({"stopped"}),
    },
}
# Every reason is formatted with the stage the decision leads to.
REASON_VALUES = frozenset({"stage", "stage_name"})


def allowed(section: str, key: str) -> frozenset[str]:
    """The placeholder names a text in `section` under `key` may use."""
    if section == "reasons":
        return REASON_VALUES
    known = SUPPLIED.get(section, {})
    if key in known:
        return known[key]
    return frozenset().union(*known.values())
