"""What the user said about the objects: clicks and boxes on a frame, per object, and text naming them.

Every prompt is checked here, once, when it is made, whoever makes it (the CLI,
a ``--prompts`` file, the server, a script): a bad value is one ``InputError``
naming it, never a traceback further down.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields

from .errors import InputError

MAX_FRAME = 10**9  # far beyond any clip; keeps a frame number an ordinary int


def _number(value, what: str) -> float:
    """A finite real number (bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _whole(value, what: str, lo: int, hi: int) -> int:
    """An integer in lo..hi; a float is accepted only when it is a whole number (JSON writes 3.0 for 3)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a whole number, not {value!r}")
    if not math.isfinite(value) or value != int(value):
        raise InputError(f"{what} must be a whole number, not {value!r}")
    if not lo <= int(value) <= hi:
        raise InputError(f"{what} must be between {lo} and {hi}, not {int(value)}")
    return int(value)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: int = 1  # 1 = positive (on the object), 0 = negative (not the object)

    def __post_init__(self):
        object.__setattr__(self, "x", _number(self.x, "a point's x"))
        object.__setattr__(self, "y", _number(self.y, "a point's y"))
        if isinstance(self.label, bool) or self.label not in (0, 1):
            raise InputError(
                f"a point's label must be 1 (on the object) or 0 (not the object), not {self.label!r}"
            )
        object.__setattr__(self, "label", int(self.label))


@dataclass(frozen=True)
class ObjectPrompt:
    """Prompts for one object on one frame, in full-resolution displayed pixels, origin top-left."""

    frame: int = 0
    points: tuple[Point, ...] = ()
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    object_id: int = 1

    def __post_init__(self):
        object.__setattr__(self, "frame", _whole(self.frame, "a prompt's frame", 0, MAX_FRAME))
        object.__setattr__(self, "object_id", _whole(self.object_id, "an object id", 1, 255))
        if not all(isinstance(p, Point) for p in self.points):
            raise InputError("a prompt's points must be Point(x, y, label) values")
        object.__setattr__(self, "points", tuple(self.points))
        if self.box is not None:
            if isinstance(self.box, str | bytes) or len(self.box) != 4:
                raise InputError(f"a box is 4 numbers x0, y0, x1, y1, not {self.box!r}")
            box = tuple(_number(v, "a box coordinate") for v in self.box)
            if not (box[0] < box[2] and box[1] < box[3]):
                raise InputError(f"box {box} must have x0 < x1 and y0 < y1")
            object.__setattr__(self, "box", box)
        if self.box is None and not any(p.label == 1 for p in self.points):
            raise InputError(
                "a prompt needs a box or at least one positive point (label 1) on the object: "
                "negative points only say what is not the object"
            )

    def check_inside(self, width: int, height: int, frames: int | None = None) -> None:
        """Raise an InputError naming the first prompt that falls outside the video."""
        if frames is not None and not 0 <= self.frame < frames:
            raise InputError(
                f"frame {self.frame} is out of range: the video has {frames} frames (0..{frames - 1})"
            )
        for p in self.points:
            if not (0 <= p.x < width and 0 <= p.y < height):
                raise InputError(f"point ({p.x:g}, {p.y:g}) is outside the {width}x{height} frame")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise InputError(f"box {self.box} is outside the {width}x{height} frame")

    def to_dict(self) -> dict:
        return {
            "frame": self.frame,
            "object_id": self.object_id,
            "points": [[p.x, p.y, p.label] for p in self.points],
            "box": list(self.box) if self.box is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ObjectPrompt:
        """A prompt from its JSON form: ``{"frame", "object_id", "points": [[x, y(, label)], ...], "box"}``."""
        if not isinstance(d, dict):
            raise InputError(f"a prompt is a JSON object with points and/or a box, not {d!r:.80}")
        unknown = set(d) - {"frame", "object_id", "points", "box"}
        if unknown:
            raise InputError(
                f"unknown prompt field(s): {', '.join(sorted(map(str, unknown)))} "
                "(known: frame, object_id, points, box)"
            )
        points = d.get("points") or ()
        if not isinstance(points, list | tuple) or not all(
            isinstance(p, list | tuple) and len(p) in (2, 3) for p in points
        ):
            raise InputError(f"a prompt's points are a list of [x, y] or [x, y, label], not {points!r:.80}")
        box = d.get("box")
        if box is not None and (not isinstance(box, list | tuple) or len(box) != 4):
            raise InputError(f"a box is 4 numbers [x0, y0, x1, y1], not {box!r:.80}")
        return cls(
            frame=d.get("frame", 0),
            points=tuple(Point(*p) for p in points),
            box=tuple(box) if box is not None else None,
            object_id=d.get("object_id", 1),
        )


def _threshold(value, what: str) -> float:
    value = _number(value, what)
    if not 0 < value <= 1:
        raise InputError(f"{what} must be above 0 and at most 1, not {value:g}")
    return value


@dataclass(frozen=True)
class TextPrompt:
    """Objects named in words ("logo . boom mic"), found by a detector on ``frame``.

    ``box_threshold`` is the least box score a detection needs, ``text_threshold`` the least score its
    phrase needs; ``detect_every`` > 0 runs the detector again every that many frames (counted from
    ``frame``, both ways) while tracking, so objects that enter later become objects too.
    """

    text: str
    frame: int = 0
    box_threshold: float = 0.35
    text_threshold: float = 0.25
    detect_every: int = 0

    def __post_init__(self):
        if not isinstance(self.text, str):
            raise InputError(f"text must be a string of phrases separated by '.', not {self.text!r:.80}")
        object.__setattr__(self, "frame", _whole(self.frame, "the text prompt's frame", 0, MAX_FRAME))
        object.__setattr__(self, "box_threshold", _threshold(self.box_threshold, "box_threshold"))
        object.__setattr__(self, "text_threshold", _threshold(self.text_threshold, "text_threshold"))
        object.__setattr__(self, "detect_every", _whole(self.detect_every, "detect_every", 0, MAX_FRAME))
        if not self.phrases:
            raise InputError(f"text {self.text!r:.80} names nothing: give phrases such as 'logo . boom mic'")

    @property
    def phrases(self) -> tuple[str, ...]:
        """The phrases, lower-cased, in order, each once: "Logo . boom mic." -> ("logo", "boom mic")."""
        parts = (" ".join(part.split()).lower() for part in self.text.split("."))
        return tuple(dict.fromkeys(part for part in parts if part))

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "frame": self.frame,
            "box_threshold": self.box_threshold,
            "text_threshold": self.text_threshold,
            "detect_every": self.detect_every,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TextPrompt:
        """A text prompt from its JSON form: ``{"text", "frame", "box_threshold", "text_threshold",
        "detect_every"}`` (all but text optional)."""
        if not isinstance(d, dict) or "text" not in d:
            raise InputError(f'a text prompt is a JSON object with "text", not {d!r:.80}')
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(
                f"unknown text prompt field(s): {', '.join(sorted(map(str, unknown)))} "
                f"(known: {', '.join(known)})"
            )
        return cls(**d)


@dataclass(frozen=True)
class Prompts:
    """All objects to remove: clicks and boxes per object, on one or more frames (keyframes), and/or text
    naming objects a detector finds (``text``)."""

    objects: tuple[ObjectPrompt, ...] = field(default_factory=tuple)
    text: TextPrompt | None = None

    def __post_init__(self):
        if not all(isinstance(o, ObjectPrompt) for o in self.objects):
            raise InputError("prompts' objects must be ObjectPrompt values")
        object.__setattr__(self, "objects", tuple(self.objects))
        if self.text is not None and not isinstance(self.text, TextPrompt):
            raise InputError(f"prompts' text must be a TextPrompt, not {self.text!r:.80}")

    def keyframes(self) -> list[int]:
        """The frames that have clicks or boxes (the text frame's objects count once the detector found them)."""
        return sorted({o.frame for o in self.objects})
