"""What the user said about the objects: clicks and boxes on a frame, per object."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InputError


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: int = 1  # 1 = positive (on the object), 0 = negative (not the object)


@dataclass(frozen=True)
class ObjectPrompt:
    """Prompts for one object on one frame, in full-resolution pixels, origin top-left."""

    frame: int = 0
    points: tuple[Point, ...] = ()
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    object_id: int = 1

    def __post_init__(self):
        if not self.points and self.box is None:
            raise InputError("a prompt needs at least one point or a box")
        if not 1 <= self.object_id <= 255:
            raise InputError(f"object id {self.object_id} must be between 1 and 255")

    def check_inside(self, width: int, height: int, frames: int | None = None) -> None:
        """Raise an InputError naming the first prompt that falls outside the video."""
        if frames is not None and not 0 <= self.frame < frames:
            raise InputError(f"frame {self.frame} is out of range: the video has {frames} frames (0..{frames - 1})")
        for p in self.points:
            if not (0 <= p.x < width and 0 <= p.y < height):
                raise InputError(f"point ({p.x:g}, {p.y:g}) is outside the {width}x{height} frame")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if not (x0 < x1 and y0 < y1):
                raise InputError(f"box {self.box} must have x0 < x1 and y0 < y1")
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
        points = tuple(Point(float(p[0]), float(p[1]), int(p[2]) if len(p) > 2 else 1) for p in d.get("points") or ())
        box = d.get("box")
        return cls(
            frame=int(d.get("frame", 0)),
            points=points,
            box=tuple(float(v) for v in box) if box is not None else None,
            object_id=int(d.get("object_id", 1)),
        )


@dataclass(frozen=True)
class Prompts:
    """All objects to remove; objects may be prompted on different frames (keyframes)."""

    objects: tuple[ObjectPrompt, ...] = field(default_factory=tuple)

    def keyframes(self) -> list[int]:
        return sorted({o.frame for o in self.objects})
