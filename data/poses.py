"""Exercise pictures as data: the key positions of every exercise variant as a small stick figure.

`poses.yaml` gives, per variant id, a view ("side" or "front") and two to four key positions.
A side-view position is a set of joint angles (degrees) on a body with fixed segment lengths;
a front-view position (the standing and kneeling rotations) is a stance and a chest turn. Each
position names the points that touch the floor. `load_poses(programme)` validates the file and
checks that every variant of the programme has its figure, raising `ProgrammeError` that names
the file, the exercise and the field. `body(figure, pose)` places the figure on the floor line
(y = 0): the whole body is turned so its declared floor contacts lie level, then lowered until
they touch.

Side-view angle conventions (the body's own frame: trunk pointing up, its front facing right):
- lower_back, upper_back: bend at the waist and at the chest; positive rounds the back (flexion),
  negative arches it (extension).
- neck: positive tucks the chin, negative lifts the head.
- arm [shoulder, elbow]: shoulder 0 hangs along the trunk, 90 points forward, 180 overhead;
  elbow 0 is straight, positive bends.
- leg [hip, knee, ankle]: hip 0 in line with the trunk, 90 is thigh forward, negative behind;
  knee 0 is straight, positive bends (never negative: knees do not bend backwards); ankle 0 is a
  foot at a right angle to the shin, positive points the toes.
- trunk: roughly where the pelvis-to-chest line points in the picture (0 = right, 90 = up, 180 =
  left); the exact tilt follows from the floor contacts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.programme import DATA_DIR, Programme, ProgrammeError, _field, _read_yaml

# Segment lengths, in metres of a ~1.7 m adult. Every figure uses these, in every pose.
LENGTHS: Mapping[str, float] = {
    "lumbar": 0.17,  # pelvis -> waist
    "thorax_low": 0.17,  # waist -> chest
    "thorax_high": 0.17,  # chest -> shoulder
    "neck": 0.19,  # shoulder -> centre of the head
    "upper_arm": 0.27,
    "forearm": 0.27,  # elbow -> hand (hand included)
    "thigh": 0.43,
    "shin": 0.42,
    "foot": 0.15,
    "shoulder_half": 0.18,  # front view: half the shoulder width
    "hip_half": 0.11,  # front view: half the hip width
    "reach": 0.30,  # front view: how far in front of the chest clasped hands are
}
# Half the thickness of each point: a point touches the floor when its centre is this high.
HEAD_RADIUS = 0.095
TRUNK_RADIUS = 0.05
LIMB_RADIUS = 0.025
FLOOR_TOLERANCE = 0.02

# Ranges a real body reaches, in the conventions above (the tests hold every pose to these).
HUMAN_RANGES: Mapping[str, tuple[float, float]] = {
    "lower_back": (-30, 40),
    "upper_back": (-30, 45),
    "neck": (-45, 60),
    "shoulder": (-50, 190),
    "elbow": (0, 150),
    "hip": (-30, 140),
    "knee": (0, 155),
    "ankle": (-25, 90),
    "turn": (-60, 60),
}
# Lying on one side and seen from the front, the arms and legs swing out to the sides (abduction)
# rather than forwards and back: the shoulder reaches the ceiling and the top leg lifts.
SIDE_LYING_RANGES: Mapping[str, tuple[float, float]] = {
    **HUMAN_RANGES,
    "shoulder": (-180, 190),
    "hip": (-50, 140),
}


def human_range(view: str, angle: str) -> tuple[float, float]:
    """What a body can do at one joint ("near_knee" -> the knee's range) in this view."""
    ranges = SIDE_LYING_RANGES if view == "side_lying" else HUMAN_RANGES
    return ranges[angle.removeprefix("near_").removeprefix("far_")]


SIDE_POINTS = (
    "pelvis",
    "waist",
    "chest",
    "shoulder",
    "head",
    "near_elbow",
    "near_hand",
    "far_elbow",
    "far_hand",
    "near_knee",
    "near_heel",
    "near_toe",
    "far_knee",
    "far_heel",
    "far_toe",
)
FRONT_POINTS = (
    "pelvis",
    "chest",
    "shoulder",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "hands",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_heel",
    "right_heel",
)
# Words a pose may use for several points at once.
CONTACT_GROUPS: Mapping[str, tuple[str, ...]] = {
    "hands": ("near_hand", "far_hand"),
    "elbows": ("near_elbow", "far_elbow"),
    "forearm": ("near_elbow", "near_hand"),
    "knees": ("near_knee", "far_knee"),
    "feet": ("near_heel", "near_toe", "far_heel", "far_toe"),
    "toes": ("near_toe", "far_toe"),
    "heels": ("near_heel", "far_heel"),
    "hips": ("pelvis",),
    "back": ("waist", "chest"),
    "front_knees": ("left_knee", "right_knee"),
    "front_feet": ("left_heel", "right_heel"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pose(_Frozen):
    """One key position. Side view uses the angles; front view uses stance and turn."""

    name: str = Field(min_length=2, max_length=30)
    contacts: tuple[str, ...] = Field(min_length=1)
    trunk: float = 0.0
    lower_back: float = 0.0
    upper_back: float = 0.0
    neck: float = 0.0
    near_arm: tuple[float, float] = (0.0, 0.0)
    far_arm: tuple[float, float] | None = None
    near_leg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    far_leg: tuple[float, float, float] | None = None
    stance: Literal["standing", "kneeling"] = "standing"
    turn: float = 0.0

    def angles(self) -> dict[str, float]:
        """Every joint angle by range name, for the human-range check."""
        far_arm = self.far_arm or self.near_arm
        far_leg = self.far_leg or self.near_leg
        return {
            "lower_back": self.lower_back,
            "upper_back": self.upper_back,
            "neck": self.neck,
            "near_shoulder": self.near_arm[0],
            "near_elbow": self.near_arm[1],
            "far_shoulder": far_arm[0],
            "far_elbow": far_arm[1],
            "near_hip": self.near_leg[0],
            "near_knee": self.near_leg[1],
            "near_ankle": self.near_leg[2],
            "far_hip": far_leg[0],
            "far_knee": far_leg[1],
            "far_ankle": far_leg[2],
            "turn": self.turn,
        }


class ExerciseFigure(_Frozen):
    """How one exercise variant is drawn: its view, its key positions, its movement arrows."""

    view: Literal["side", "side_lying", "front"] = "side"
    poses: tuple[Pose, ...] = Field(min_length=2, max_length=4)
    arrows: tuple[str, ...] = ()
    highlight: bool = True

    @model_validator(mode="after")
    def _points_known(self) -> ExerciseFigure:
        known = set(FRONT_POINTS if self.view == "front" else SIDE_POINTS)
        for index, pose in enumerate(self.poses):
            for contact in pose.contacts:
                wanted = CONTACT_GROUPS.get(contact, (contact,))
                if not set(wanted) <= known:
                    raise ValueError(f"poses.{index}.contacts: unknown point {contact!r}")
        for arrow in self.arrows:
            if arrow not in known:
                raise ValueError(f"arrows: unknown point {arrow!r}")
        return self


# --- geometry ------------------------------------------------------------------------------------

Point = tuple[float, float]


@dataclass(frozen=True)
class Body:
    """A placed figure: points in metres, floor at y = 0, and how to draw it."""

    points: Mapping[str, Point]
    radii: Mapping[str, float]
    # (from, to, layer, length): layer "far" is drawn behind, "near" in front.
    segments: tuple[tuple[str, str, str, float], ...]
    contacts: frozenset[str]
    spine: tuple[str, ...] = field(default=("pelvis", "waist", "chest", "shoulder"))

    def bottom(self, name: str) -> float:
        return self.points[name][1] - self.radii[name]

    def top(self, name: str) -> float:
        return self.points[name][1] + self.radii[name]


def _step(start: Point, degrees: float, length: float) -> Point:
    angle = math.radians(degrees)
    return (start[0] + length * math.cos(angle), start[1] + length * math.sin(angle))


def _side_chain(pose: Pose) -> tuple[dict[str, Point], list[tuple[str, str, str, float]]]:
    """The side-view body in its own frame: pelvis at the origin, trunk up, front to the right."""
    far_arm = pose.far_arm or pose.near_arm
    far_leg = pose.far_leg or pose.near_leg
    pts: dict[str, Point] = {"pelvis": (0.0, 0.0)}
    lumbar = 90.0
    low = lumbar - pose.lower_back
    high = low - pose.upper_back
    pts["waist"] = _step(pts["pelvis"], lumbar, LENGTHS["lumbar"])
    pts["chest"] = _step(pts["waist"], low, LENGTHS["thorax_low"])
    pts["shoulder"] = _step(pts["chest"], high, LENGTHS["thorax_high"])
    pts["head"] = _step(pts["shoulder"], high - pose.neck, LENGTHS["neck"])
    segs: list[tuple[str, str, str, float]] = [
        ("pelvis", "waist", "body", LENGTHS["lumbar"]),
        ("waist", "chest", "body", LENGTHS["thorax_low"]),
        ("chest", "shoulder", "body", LENGTHS["thorax_high"]),
        ("shoulder", "head", "body", LENGTHS["neck"]),
    ]
    for side, (shoulder, elbow) in (("near", pose.near_arm), ("far", far_arm)):
        upper = high + 180 + shoulder
        pts[f"{side}_elbow"] = _step(pts["shoulder"], upper, LENGTHS["upper_arm"])
        pts[f"{side}_hand"] = _step(pts[f"{side}_elbow"], upper + elbow, LENGTHS["forearm"])
        segs += [
            ("shoulder", f"{side}_elbow", side, LENGTHS["upper_arm"]),
            (f"{side}_elbow", f"{side}_hand", side, LENGTHS["forearm"]),
        ]
    for side, (hip, knee, ankle) in (("near", pose.near_leg), ("far", far_leg)):
        thigh = lumbar + 180 + hip
        shin = thigh - knee
        pts[f"{side}_knee"] = _step(pts["pelvis"], thigh, LENGTHS["thigh"])
        pts[f"{side}_heel"] = _step(pts[f"{side}_knee"], shin, LENGTHS["shin"])
        pts[f"{side}_toe"] = _step(pts[f"{side}_heel"], shin + 90 - ankle, LENGTHS["foot"])
        segs += [
            ("pelvis", f"{side}_knee", side, LENGTHS["thigh"]),
            (f"{side}_knee", f"{side}_heel", side, LENGTHS["shin"]),
            (f"{side}_heel", f"{side}_toe", side, LENGTHS["foot"]),
        ]
    return pts, segs


def front_points_3d(pose: Pose) -> dict[str, tuple[float, float, float]]:
    """The front-view body in 3D (x across, y up, z towards the viewer), before projection."""
    shin, thigh = LENGTHS["shin"], LENGTHS["thigh"]
    hip_half, shoulder_half = LENGTHS["hip_half"], LENGTHS["shoulder_half"]
    kneeling = pose.stance == "kneeling"
    knee_y = 0.0 if kneeling else shin
    pelvis_y = knee_y + thigh
    p: dict[str, tuple[float, float, float]] = {}
    for sign, side in ((-1, "left"), (1, "right")):
        # Standing: feet under the hips, heels on the floor. Kneeling: shins lie behind the knees.
        p[f"{side}_heel"] = (sign * hip_half, 0.0, -shin if kneeling else 0.0)
        p[f"{side}_knee"] = (sign * hip_half, knee_y, 0.0)
        p[f"{side}_hip"] = (sign * hip_half, pelvis_y, 0.0)
    p["pelvis"] = (0.0, pelvis_y, 0.0)
    chest_y = pelvis_y + LENGTHS["lumbar"] + LENGTHS["thorax_low"]
    p["chest"] = (0.0, chest_y, 0.0)
    shoulder_y = chest_y + LENGTHS["thorax_high"]
    p["shoulder"] = (0.0, shoulder_y, 0.0)
    p["head"] = (0.0, shoulder_y + LENGTHS["neck"], 0.0)
    turn = math.radians(pose.turn)
    across, depth = math.cos(turn), math.sin(turn)
    for sign, side in ((-1, "left"), (1, "right")):
        p[f"{side}_shoulder"] = (
            sign * shoulder_half * across,
            shoulder_y,
            -sign * shoulder_half * depth,
        )
    # Clasped hands in front of the chest, a little lower than the shoulders, turning with it.
    reach = LENGTHS["reach"]
    hands_y = shoulder_y - 0.12
    p["hands"] = (reach * depth, hands_y, reach * across)
    for side in ("left", "right"):
        shoulder, hands = p[f"{side}_shoulder"], p["hands"]
        # The elbow hangs below the shoulder-to-hands line, square to it, where two bones of
        # the upper arm's length meet.
        along = [h - s for s, h in zip(shoulder, hands, strict=True)]
        half = math.hypot(*along) / 2
        unit = [a / (2 * half) for a in along]
        down = [0.0, -1.0, 0.0]
        dot = sum(d * u for d, u in zip(down, unit, strict=True))
        square = [d - dot * u for d, u in zip(down, unit, strict=True)]
        size = math.hypot(*square)
        drop = math.sqrt(max(0.0, LENGTHS["upper_arm"] ** 2 - half**2))
        x, y, z = (
            (s + h) / 2 + drop * q / size for s, h, q in zip(shoulder, hands, square, strict=True)
        )
        p[f"{side}_elbow"] = (x, y, z)
    return p


def _front_chain(pose: Pose) -> tuple[dict[str, Point], list[tuple[str, str, str, float]]]:
    p3 = front_points_3d(pose)
    pts = {name: (x, y) for name, (x, y, _z) in p3.items()}
    kneeling = pose.stance == "kneeling"
    segs: list[tuple[str, str, str, float]] = []

    def seg(a: str, b: str, layer: str) -> None:
        segs.append((a, b, layer, math.dist(p3[a], p3[b])))

    for side in ("left", "right"):
        if not kneeling:
            seg(f"{side}_heel", f"{side}_knee", "near")
        seg(f"{side}_knee", f"{side}_hip", "near")
    seg("left_hip", "right_hip", "body")
    seg("pelvis", "chest", "body")
    seg("chest", "shoulder", "body")
    seg("shoulder", "head", "body")
    seg("left_shoulder", "right_shoulder", "body")
    # The shoulder turned away from the viewer is drawn behind.
    back = "left" if pose.turn > 0 else "right"
    for side in ("left", "right"):
        layer = "far" if side == back and pose.turn != 0 else "near"
        seg(f"{side}_shoulder", f"{side}_elbow", layer)
        seg(f"{side}_elbow", "hands", layer)
    return pts, segs


def _radius(name: str) -> float:
    if name == "head":
        return HEAD_RADIUS
    if name in ("pelvis", "waist", "chest", "shoulder"):
        return TRUNK_RADIUS
    return LIMB_RADIUS


def contact_points(pose: Pose) -> frozenset[str]:
    return frozenset(p for c in pose.contacts for p in CONTACT_GROUPS.get(c, (c,)))


def _rotated(pts: Mapping[str, Point], degrees: float) -> dict[str, Point]:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {n: (x * c - y * s, x * s + y * c) for n, (x, y) in pts.items()}


def _spread(pts: Mapping[str, Point], contacts: Iterable[str]) -> float:
    bottoms = [pts[n][1] - _radius(n) for n in contacts]
    return max(bottoms) - min(bottoms)


def _level_turn(pts: Mapping[str, Point], contacts: frozenset[str], hint: float) -> float:
    """The whole-body turn, near the pose's hint, at which its floor contacts lie most level."""
    xs = [pts[n] for n in contacts]
    span = max(math.dist(a, b) for a in xs for b in xs)
    if span < 0.3:  # contacts close together (feet, knees) cannot set the tilt: trust the hint
        return hint
    names = sorted(contacts)
    x = np.array([pts[n][0] for n in names])
    y = np.array([pts[n][1] for n in names])
    radius = np.array([_radius(n) for n in names])
    best = hint
    # Coarse to fine: whole degrees over +-40 around the hint, then tenths, then hundredths.
    for step, reach in ((1.0, 40), (0.1, 10), (0.01, 10)):
        turns = best + step * np.arange(-reach, reach + 1)
        angles = np.radians(turns)[:, None]
        bottoms = x * np.sin(angles) + y * np.cos(angles) - radius
        spread = np.round(bottoms.max(axis=1) - bottoms.min(axis=1), 9)
        # The most level turn; of equals, the one nearest the hint.
        order = np.lexsort((np.abs(turns - hint), spread))
        best = float(turns[order[0]])
    return round(best, 2)


def body(figure: ExerciseFigure, pose: Pose) -> Body:
    """Place one key position on the floor line."""
    if figure.view != "front":
        raw, segs = _side_chain(pose)
        # The body frame's "up" is the trunk; turn it to point along the hint.
        turn = _level_turn(raw, contact_points(pose), pose.trunk - 90)
    else:
        raw, segs = _front_chain(pose)
        turn = 0.0
    pts = _rotated(raw, turn)
    contacts = contact_points(pose)
    lift = -min(pts[n][1] - _radius(n) for n in contacts)
    placed = {n: (round(x, 6), round(y + lift, 6)) for n, (x, y) in pts.items()}
    spine = ("pelvis", "waist", "chest", "shoulder") if figure.view != "front" else ()
    return Body(
        points=placed,
        radii={n: _radius(n) for n in placed},
        segments=tuple(segs),
        contacts=contacts,
        spine=spine,
    )


def frame(figure: ExerciseFigure, margin: float = 0.12) -> tuple[float, float, float, float]:
    """The picture's window (x0, x1, y0, y1): every key position fits, the floor just below."""
    bodies = [body(figure, pose) for pose in figure.poses]
    xs = [x for b in bodies for x in (p[0] for p in b.points.values())]
    ys = [b.top(n) for b in bodies for n in b.points]
    x0, x1 = min(xs) - margin - HEAD_RADIUS, max(xs) + margin + HEAD_RADIUS
    y1 = max(ys) + margin
    return (x0, x1, -margin * 0.9, y1)


# --- loading -------------------------------------------------------------------------------------


class _PosesFile(_Frozen):
    figures: Mapping[str, ExerciseFigure]


def load_poses(programme: Programme, base: Path = DATA_DIR) -> Mapping[str, ExerciseFigure]:
    """Read and check poses.yaml: one figure for every exercise variant of the programme."""
    path = base / "poses.yaml"
    raw: Any = _read_yaml("poses.yaml", base)
    if not isinstance(raw, dict) or not isinstance(raw.get("figures"), dict):
        raise ProgrammeError(f"{path}: field figures: a mapping of exercise id to figure")
    figures: dict[str, ExerciseFigure] = {}
    for exercise_id, spec in raw["figures"].items():
        try:
            figures[exercise_id] = ExerciseFigure.model_validate(spec)
        except ValidationError as error:
            first = error.errors()[0]
            where = _field(first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ProgrammeError(
                f"{path}: exercise {exercise_id}: field {where}: {message}"
            ) from error
    variants = [e.id for stage in programme.stages for e in stage.exercises]
    for exercise_id in variants:
        if exercise_id not in figures:
            raise ProgrammeError(
                f"{path}: exercise {exercise_id}: field figures.{exercise_id}: missing "
                "(every exercise in programme.yaml needs its key positions here)"
            )
    for exercise_id in figures:
        if exercise_id not in variants:
            raise ProgrammeError(
                f"{path}: exercise {exercise_id}: field figures.{exercise_id}: "
                "no such exercise in programme.yaml"
            )
    for exercise_id, figure in figures.items():
        for index, pose in enumerate(figure.poses):
            for name, value in pose.angles().items():
                low, high = human_range(figure.view, name)
                if not low <= value <= high:
                    raise ProgrammeError(
                        f"{path}: exercise {exercise_id}: field poses.{index}.{name}: "
                        f"{value} is outside what a body can do ({low} to {high})"
                    )
    return figures


@cache
def default_poses() -> Mapping[str, ExerciseFigure]:
    from data.programme import default_programme

    return load_poses(default_programme())
