"""The shipped programme content (data/*.yaml) and how the loader reports broken files.

Naming convention the content tests rely on: every exercise id is "s<stage>-<key>[-variant]",
where <key> names the exercise family. The five exercises from the article (ARTICLE_KEYS) appear
in every stage; stages 3 and 4 also have a back extension and a rotation (LATER_KEYS).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from data.programme import DATA_DIR, ProgrammeError, load_programme

ARTICLE_KEYS = ("cat-cow", "side-plank", "chest-lift", "swimmers", "dead-bug")
LATER_KEYS = ("back-extension", "rotation")
DATA_FILES = ("programme.yaml", "safety.yaml", "messages.yaml")


def _raw(name: str, base: Path = DATA_DIR) -> Any:
    return yaml.safe_load((base / name).read_text(encoding="utf-8"))


def _stages() -> list[dict[str, Any]]:
    return _raw("programme.yaml")["stages"]


def _exercises() -> list[tuple[int, dict[str, Any]]]:
    return [(stage["number"], exercise) for stage in _stages() for exercise in stage["exercises"]]


def _family(stage: dict[str, Any], key: str) -> list[dict[str, Any]]:
    prefix = f"s{stage['number']}-{key}"
    return [e for e in stage["exercises"] if e["id"] == prefix or e["id"].startswith(prefix + "-")]


def _floor_seconds(stage: dict[str, Any]) -> int:
    """Estimated length of a session at the floor dose: count * (seconds + rest) * sides."""
    return sum(
        e["dose"]["floor"]
        * (e["seconds"] + e["rest_seconds"])
        * (2 if e["sides"] == "both" else 1)
        for e in stage["exercises"]
    )


# --- the shipped content -----------------------------------------------------------------------


def test_shipped_programme_loads() -> None:
    if not (DATA_DIR / "messages.yaml").exists():
        pytest.skip("data/messages.yaml is not written yet")
    programme = load_programme()
    assert programme.last_stage == 4
    assert programme.safety.rescreen_after_days == 28


def test_four_stages_numbered_one_to_four() -> None:
    stages = _stages()
    assert [stage["number"] for stage in stages] == [1, 2, 3, 4]
    for stage in stages:
        assert stage["name"].strip()
        assert stage["aim"].strip()
        assert stage["min_sessions"] >= 5
        assert stage["clean_days_at_ceiling"] == 2
        assert 5 <= len(stage["exercises"]) <= 7


def test_ids_follow_the_stage_prefix_convention() -> None:
    for number, exercise in _exercises():
        assert exercise["id"].startswith(f"s{number}-"), exercise["id"]
        assert re.fullmatch(r"[a-z0-9-]{2,40}", exercise["id"]), exercise["id"]


@pytest.mark.parametrize("key", ARTICLE_KEYS)
def test_every_stage_has_each_article_exercise(key: str) -> None:
    for stage in _stages():
        assert len(_family(stage, key)) == 1, f"stage {stage['number']}: {key}"


@pytest.mark.parametrize("key", LATER_KEYS)
def test_stages_three_and_four_add_back_extension_and_rotation(key: str) -> None:
    for stage in _stages():
        if stage["number"] >= 3:
            assert len(_family(stage, key)) == 1, f"stage {stage['number']}: {key}"


def test_plank_with_arm_lift_appears_in_stage_two() -> None:
    assert len(_family(_stages()[1], "plank-arm-lift")) == 1


def test_side_plank_starts_from_the_knees_and_works_both_sides() -> None:
    stages = _stages()
    assert "knee" in _family(stages[0], "side-plank")[0]["name"].lower()
    for stage in stages:
        assert _family(stage, "side-plank")[0]["sides"] == "both"


def test_holds_are_short_and_reps_are_slow() -> None:
    for _, exercise in _exercises():
        if exercise["kind"] == "hold":
            assert 8 <= exercise["seconds"] <= 10, exercise["id"]
            # A still hold needs a breather before the next one.
            assert 8 <= exercise["rest_seconds"] <= 30, exercise["id"]
        else:
            assert exercise["kind"] == "rep"
            assert 5 <= exercise["seconds"] <= 10, exercise["id"]
            # Slow reps flow with a short pause for a breath; never under Telegram's 3 s edit gap.
            assert 5 <= exercise["rest_seconds"] <= 30, exercise["id"]


def test_every_exercise_is_complete() -> None:
    checkins = _raw("programme.yaml")["checkins"]
    for _, exercise in _exercises():
        name = exercise["id"]
        assert exercise["name"].strip(), name
        assert exercise["how_to"].strip(), name
        assert 2 <= len(exercise["cues"]) <= 3, name
        assert all(cue.strip() for cue in exercise["cues"]), name
        dose = exercise["dose"]
        assert 1 <= dose["floor"] <= dose["ceiling"], name
        assert dose["step"] >= 1, name
        assert 1 <= len(exercise["checkins"]) <= 3, name
        for checkin in exercise["checkins"]:
            assert checkin in checkins, f"{name}: {checkin}"


def test_texts_are_short_enough_for_a_phone() -> None:
    for _, exercise in _exercises():
        sentences = re.findall(r"[.!?](?:\s|$)", exercise["how_to"].strip())
        assert len(sentences) <= 3, exercise["id"]
        for cue in exercise["cues"]:
            assert len(cue) <= 80, cue


def test_exercise_ids_are_unique() -> None:
    ids = [exercise["id"] for _, exercise in _exercises()]
    assert len(ids) == len(set(ids))


def test_stage_one_floor_session_length() -> None:
    minutes = _floor_seconds(_stages()[0]) / 60
    assert 5 <= minutes <= 15


def test_every_floor_session_is_at_most_fifteen_minutes() -> None:
    for stage in _stages():
        assert _floor_seconds(stage) <= 15 * 60, stage["number"]


def test_every_checkin_is_a_question() -> None:
    checkins = _raw("programme.yaml")["checkins"]
    assert checkins
    for key, question in checkins.items():
        assert question.strip().endswith("?"), key


def test_every_checkin_is_used() -> None:
    used = {c for _, exercise in _exercises() for c in exercise["checkins"]}
    assert used == set(_raw("programme.yaml")["checkins"])


def test_safety_screen_has_both_tiers() -> None:
    safety = _raw("safety.yaml")
    assert len(safety["urgent"]) == 3
    assert len(safety["clinician"]) == 8
    assert "osteoporosis" in " ".join(flag["text"] for flag in safety["clinician"])
    ids = [flag["id"] for flag in safety["urgent"] + safety["clinician"]]
    assert len(ids) == len(set(ids))
    for flag in safety["urgent"] + safety["clinician"]:
        assert 0 < len(flag["text"]) <= 70, flag["id"]
    assert safety["urgent_advice"].strip()
    assert safety["clinician_advice"].strip()
    assert safety["rescreen_after_days"] == 28


# --- broken files ------------------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """The shipped YAML files copied into tmp_path (messages.yaml only if it exists yet)."""
    for name in DATA_FILES:
        if (DATA_DIR / name).exists():
            shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def _rewrite(base: Path, name: str, raw: Any) -> None:
    (base / name).write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def _load_error(base: Path) -> str:
    with pytest.raises(ProgrammeError) as caught:
        load_programme(base)
    return str(caught.value)


def test_negative_dose_floor_names_file_and_field(data_copy: Path) -> None:
    raw = _raw("programme.yaml", data_copy)
    raw["stages"][1]["exercises"][2]["dose"]["floor"] = -1
    _rewrite(data_copy, "programme.yaml", raw)
    message = _load_error(data_copy)
    assert "programme.yaml" in message
    assert "stages.1.exercises.2.dose.floor" in message


def test_ceiling_below_floor_names_the_dose(data_copy: Path) -> None:
    raw = _raw("programme.yaml", data_copy)
    raw["stages"][0]["exercises"][0]["dose"] = {"floor": 5, "step": 1, "ceiling": 2}
    _rewrite(data_copy, "programme.yaml", raw)
    message = _load_error(data_copy)
    assert "programme.yaml" in message
    assert "stages.0.exercises.0.dose" in message


def test_unknown_checkin_names_file_and_field(data_copy: Path) -> None:
    raw = _raw("programme.yaml", data_copy)
    raw["stages"][2]["exercises"][1]["checkins"] = ["no_such_checkin"]
    _rewrite(data_copy, "programme.yaml", raw)
    message = _load_error(data_copy)
    assert "programme.yaml" in message
    assert "stages.2.exercises.1.checkins" in message
    assert "no_such_checkin" in message


def test_stage_out_of_order_names_the_number(data_copy: Path) -> None:
    raw = _raw("programme.yaml", data_copy)
    raw["stages"][3]["number"] = 5
    _rewrite(data_copy, "programme.yaml", raw)
    message = _load_error(data_copy)
    assert "programme.yaml" in message
    assert "stages.3.number" in message


def test_invalid_yaml_names_the_file(data_copy: Path) -> None:
    (data_copy / "programme.yaml").write_text("stages: [\n  - number: 1\n", encoding="utf-8")
    message = _load_error(data_copy)
    assert "programme.yaml" in message
    assert "not valid YAML" in message


def test_missing_safety_field_names_file_and_field(data_copy: Path) -> None:
    raw = _raw("safety.yaml", data_copy)
    del raw["urgent_advice"]
    _rewrite(data_copy, "safety.yaml", raw)
    message = _load_error(data_copy)
    assert "safety.yaml" in message
    assert "urgent_advice" in message


def test_missing_welcome_text_names_file_and_field(data_copy: Path) -> None:
    if not (data_copy / "messages.yaml").exists():
        pytest.skip("data/messages.yaml is not written yet")
    raw = _raw("messages.yaml", data_copy)
    del raw["texts"]["welcome"]
    _rewrite(data_copy, "messages.yaml", raw)
    message = _load_error(data_copy)
    assert "messages.yaml" in message
    assert "texts.welcome" in message


def test_a_gentle_exercise_outside_stage_one_names_file_and_field(data_copy: Path) -> None:
    raw = _raw("safety.yaml", data_copy)
    raw["onboarding_pain"]["gentle_exercises"][1] = "s3-side-plank"
    _rewrite(data_copy, "safety.yaml", raw)
    message = _load_error(data_copy)
    assert "safety.yaml" in message
    assert "onboarding_pain.gentle_exercises.1" in message


def test_a_neutral_swap_for_a_missing_stage_names_file_and_field(data_copy: Path) -> None:
    raw = _raw("programme.yaml", data_copy)
    raw["neutral_swaps"][0]["stages"] = [1, 9]
    _rewrite(data_copy, "programme.yaml", raw)
    message = _load_error(data_copy)
    assert "programme.yaml" in message
    assert "neutral_swaps.0.stages" in message


def test_every_loaded_flexion_exercise_has_a_neutral_spine_stand_in() -> None:
    programme = load_programme()
    for stage in programme.stages:
        for exercise in stage.exercises:
            if "chest-lift" in exercise.id or "crunch" in exercise.id:
                stand_in = programme.neutral_swap(stage.number, exercise.id)
                assert stand_in is not None, exercise.id
                assert "chest-lift" not in stand_in.id
