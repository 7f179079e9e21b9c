"""The figures are bodies: fixed bones, feet (or hands, knees, forearm) on the floor and nothing
through it, inside the picture, joints within what a body does, and each exercise drawn in the
position its instructions describe. Then the pictures themselves: deterministic, sized for a
phone, and the contact sheet."""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bot.pictures import (
    GIF_SIZE,
    PNG_SIZE,
    _padded,
    contact_sheet,
    render_animation_gif,
    render_pose_png,
)
from data.poses import (
    FLOOR_TOLERANCE,
    LENGTHS,
    Body,
    ExerciseFigure,
    body,
    frame,
    front_points_3d,
    human_range,
    load_poses,
)
from data.programme import DATA_DIR, ProgrammeError, default_programme

PROGRAMME = default_programme()
FIGURES = load_poses(PROGRAMME)
ALL = sorted(FIGURES.items())
IDS = [exercise_id for exercise_id, _ in ALL]


def bodies(figure: ExerciseFigure) -> list[Body]:
    return [body(figure, pose) for pose in figure.poses]


def test_every_exercise_variant_has_its_figure() -> None:
    variants = {e.id for stage in PROGRAMME.stages for e in stage.exercises}
    assert set(FIGURES) == variants


def data_copy(tmp_path: Path) -> Path:
    for name in ("programme.yaml", "safety.yaml", "messages.yaml", "lessons.yaml", "poses.yaml"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def test_a_variant_without_poses_stops_start_up_naming_file_exercise_and_field(
    tmp_path: Path,
) -> None:
    base = data_copy(tmp_path)
    programme = (base / "programme.yaml").read_text()
    # A new variant in programme.yaml, with no figure yet.
    added = programme.replace("id: s4-rotation-standing\n", "id: s4-rotation-standing-band\n")
    (base / "programme.yaml").write_text(added)
    from data.programme import load_programme

    with pytest.raises(
        ProgrammeError, match=r"poses\.yaml: exercise s4-rotation-standing-band: field figures\."
    ):
        load_poses(load_programme(base), base)


def test_a_knee_bending_backwards_stops_start_up(tmp_path: Path) -> None:
    base = data_copy(tmp_path)
    poses = base / "poses.yaml"
    poses.write_text(
        poses.read_text().replace("near_leg: [90, 90, 0]", "near_leg: [90, -20, 0]", 1)
    )
    with pytest.raises(ProgrammeError, match=r"exercise s1-dead-bug: field poses\.1\.near_knee"):
        load_poses(PROGRAMME, base)


def test_an_unknown_floor_contact_is_named(tmp_path: Path) -> None:
    base = data_copy(tmp_path)
    poses = base / "poses.yaml"
    poses.write_text(
        poses.read_text().replace("contacts: [hands, knees, toes]", "contacts: [paws]", 1)
    )
    with pytest.raises(ProgrammeError, match=r"exercise s1-cat-cow: field .*unknown point 'paws'"):
        load_poses(PROGRAMME, base)


@pytest.mark.parametrize(("exercise_id", "figure"), ALL, ids=IDS)
def test_bones_keep_their_length_in_every_pose(exercise_id: str, figure: ExerciseFigure) -> None:
    if figure.view == "front":
        # Drawn in 3D, then seen from the front: the 3D bones keep their length.
        for a, b in (("left_knee", "left_hip"), ("pelvis", "chest"), ("shoulder", "head")):
            lengths = {
                round(math.dist(*(front_points_3d(p)[n] for n in (a, b))), 6) for p in figure.poses
            }
            assert len(lengths) == 1, (a, b, lengths)
        arms = {
            round(
                math.dist(front_points_3d(p)["left_shoulder"], front_points_3d(p)["left_elbow"]), 6
            )
            for p in figure.poses
        }
        assert arms == {LENGTHS["upper_arm"]}
        return
    first = bodies(figure)[0]
    for placed in bodies(figure):
        for a, b, _layer, length in placed.segments:
            assert math.dist(placed.points[a], placed.points[b]) == pytest.approx(length, abs=1e-4)
        assert placed.segments == first.segments


@pytest.mark.parametrize(("exercise_id", "figure"), ALL, ids=IDS)
def test_floor_contacts_touch_the_floor_and_nothing_goes_through_it(
    exercise_id: str, figure: ExerciseFigure
) -> None:
    for pose, placed in zip(figure.poses, bodies(figure), strict=True):
        for name in placed.contacts:
            assert abs(placed.bottom(name)) <= FLOOR_TOLERANCE, (pose.name, name)
        for name in placed.points:
            assert placed.bottom(name) >= -FLOOR_TOLERANCE, (pose.name, name)


@pytest.mark.parametrize(("exercise_id", "figure"), ALL, ids=IDS)
def test_the_whole_figure_stays_in_the_picture(exercise_id: str, figure: ExerciseFigure) -> None:
    for size in (PNG_SIZE, GIF_SIZE):
        x0, x1, y0, y1 = _padded(frame(figure), size)
        for placed in bodies(figure):
            for name, (x, y) in placed.points.items():
                r = placed.radii[name]
                assert x0 <= x - r, (name, x)
                assert x + r <= x1, (name, x)
                assert y0 <= y - r, (name, y)
                assert y + r <= y1, (name, y)


@pytest.mark.parametrize(("exercise_id", "figure"), ALL, ids=IDS)
def test_joints_stay_within_what_a_body_can_do(exercise_id: str, figure: ExerciseFigure) -> None:
    for pose in figure.poses:
        for joint, value in pose.angles().items():
            low, high = human_range(figure.view, joint)
            assert low <= value <= high, (pose.name, joint, value)
            if joint.endswith("knee") or joint.endswith("elbow"):
                assert value >= 0, (pose.name, joint)  # no knee or elbow bends backwards


# --- each exercise in the position its instructions describe ------------------------------------


def facing(placed: Body) -> str:
    """Where the front of the trunk points: "up" (on the back), "down" (face down) or "side"."""
    (px, py), (sx, sy) = placed.points["pelvis"], placed.points["shoulder"]
    length = math.hypot(sx - px, sy - py)
    front_y = -(sx - px) / length  # the trunk turned a quarter clockwise: its front
    return "up" if front_y > 0.6 else "down" if front_y < -0.6 else "side"


def on_floor(placed: Body, *names: str) -> bool:
    return all(abs(placed.bottom(n)) <= FLOOR_TOLERANCE for n in names)


def angle_at(placed: Body, a: str, joint: str, b: str) -> float:
    (ax, ay), (jx, jy), (bx, by) = (placed.points[n] for n in (a, joint, b))
    first, second = math.atan2(ay - jy, ax - jx), math.atan2(by - jy, bx - jx)
    return abs((math.degrees(first - second) + 180) % 360 - 180)


def of(fragment: str) -> list[tuple[str, ExerciseFigure]]:
    return [(i, f) for i, f in ALL if fragment in i]


@pytest.mark.parametrize(("exercise_id", "figure"), of("cat-cow"), ids=lambda v: str(v)[:30])
def test_cat_cow_is_on_all_fours(exercise_id: str, figure: ExerciseFigure) -> None:
    for placed in bodies(figure):
        assert facing(placed) == "down"
        assert on_floor(placed, "near_hand", "far_hand", "near_knee", "far_knee")
        assert not on_floor(placed, "pelvis")
        assert placed.points["pelvis"][1] > 0.3
        assert placed.points["shoulder"][1] > 0.3


@pytest.mark.parametrize(("exercise_id", "figure"), of("side-plank"), ids=lambda v: str(v)[:30])
def test_side_plank_is_side_lying_on_a_forearm(exercise_id: str, figure: ExerciseFigure) -> None:
    assert figure.view == "side_lying"
    placed = bodies(figure)
    for one in placed:
        assert on_floor(one, "near_elbow", "near_hand")  # the forearm on the floor
        elbow_x, shoulder_x = one.points["near_elbow"][0], one.points["shoulder"][0]
        assert abs(elbow_x - shoulder_x) < 0.15  # elbow under the shoulder
    lifted = placed[-1]
    assert not on_floor(lifted, "pelvis")  # the hips lift off the floor
    assert lifted.points["pelvis"][1] > 0.12


@pytest.mark.parametrize(("exercise_id", "figure"), of("chest-lift"), ids=lambda v: str(v)[:30])
def test_chest_lift_is_on_the_back_with_knees_bent(
    exercise_id: str, figure: ExerciseFigure
) -> None:
    for placed in bodies(figure):
        assert facing(placed) in ("up", "side")
        assert on_floor(placed, "pelvis")
        assert placed.points["near_knee"][1] > placed.points["pelvis"][1] + 0.15  # knees up
        assert angle_at(placed, "pelvis", "far_knee", "far_heel") < 130  # bent, not straight
    curled = bodies(figure)[-1]
    assert curled.points["head"][1] > 0.2  # the head lifts off the floor


@pytest.mark.parametrize(
    ("exercise_id", "figure"),
    [(i, f) for i, f in of("swimmers") if "kneeling" not in i and "hover" not in i],
    ids=lambda v: str(v)[:30],
)
def test_swimmers_are_face_down(exercise_id: str, figure: ExerciseFigure) -> None:
    for placed in bodies(figure):
        assert facing(placed) == "down"
        assert on_floor(placed, "pelvis")
        assert placed.points["head"][1] < 0.3
    assert on_floor(bodies(figure)[0], "near_hand", "near_toe", "chest")  # flat to start


@pytest.mark.parametrize(
    ("exercise_id", "figure"), of("swimmers-hover"), ids=lambda v: str(v)[:30]
)
def test_knee_hover_swimmers_keep_a_flat_back_on_hands_and_toes(
    exercise_id: str, figure: ExerciseFigure
) -> None:
    placed = bodies(figure)
    assert on_floor(placed[0], "near_knee", "far_knee")  # all fours to start
    for one in placed:
        assert facing(one) == "down"
        assert on_floor(one, "near_toe")
        assert one.points["pelvis"][1] > 0.3  # no lying face down: the trunk is held up
    for hovering in placed[1:]:
        assert 0.01 < hovering.bottom("near_knee") < 0.08  # knees just off the floor


@pytest.mark.parametrize(("exercise_id", "figure"), of("dead-bug"), ids=lambda v: str(v)[:30])
def test_dead_bug_is_on_the_back_with_hips_and_knees_at_right_angles(
    exercise_id: str, figure: ExerciseFigure
) -> None:
    held = [b for b, p in zip(bodies(figure), figure.poses, strict=True) if p.name in
            ("Dead bug hold", "Knees over hips")]  # fmt: skip
    assert held
    for placed in held:
        assert facing(placed) == "up"
        assert on_floor(placed, "pelvis", "chest")
        assert angle_at(placed, "shoulder", "pelvis", "near_knee") == pytest.approx(90, abs=15)
        assert angle_at(placed, "pelvis", "near_knee", "near_heel") == pytest.approx(90, abs=15)
        assert placed.points["near_hand"][1] > placed.points["shoulder"][1] + 0.4  # arms up


# --- the pictures -------------------------------------------------------------------------------


def test_pictures_are_deterministic_and_phone_sized() -> None:
    figure = FIGURES["s1-cat-cow"]
    png = render_pose_png(figure, 0)
    assert png == render_pose_png(figure, 0)
    assert Image.open(io.BytesIO(png)).size == PNG_SIZE
    gif = render_animation_gif(figure)
    assert gif == render_animation_gif(figure)
    image = Image.open(io.BytesIO(gif))
    assert image.size == GIF_SIZE
    assert image.n_frames > 2 * len(figure.poses)  # it moves between the key positions
    assert image.info["loop"] == 0
    assert len(gif) < 300_000


def test_different_exercises_give_different_pictures() -> None:
    gifs = {
        render_animation_gif(FIGURES[i]) for i in ("s1-cat-cow", "s1-dead-bug", "s3-side-plank")
    }
    assert len(gifs) == 3


def test_the_contact_sheet_shows_every_exercise() -> None:
    sheet = Image.open(io.BytesIO(contact_sheet(PROGRAMME, FIGURES)))
    rows = sum(len(stage.exercises) for stage in PROGRAMME.stages)
    assert sheet.size[1] == rows * 150


def test_the_readme_shows_the_committed_contact_sheet() -> None:
    root = Path(__file__).resolve().parent.parent
    assert "docs/contact-sheet.png" in (root / "README.md").read_text()
    committed = root / "docs" / "contact-sheet.png"
    assert committed.stat().st_size < 1_000_000
    assert committed.read_bytes() == contact_sheet(PROGRAMME, FIGURES)  # up to date with the data
