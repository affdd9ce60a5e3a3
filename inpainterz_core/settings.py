"""Settings for one run: plain data, so a run is a pure function of (source, prompts, settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from . import registry
from .errors import InputError

BACKENDS = ("auto", "classical", "model")


#: Type and bounds of each numeric or boolean setting: (type, lowest, highest).
_RANGES = {
    "dilate": (int, 0, 256),
    "fp16": (bool, None, None),
    "long_term_mem_gap": (int, 1, 100_000),
    "max_len_long_term": (int, 1, 100_000),
    "reach": (int, 1, 100),
    "chunk": (int, 1, 10_000),
    "write_video": (bool, None, None),
}

#: The setting that names each stage's model, and the stage (its choices come from the registry).
_MODEL_FIELDS = {"detector": "detect", "segmenter": "segment", "tracker": "track", "inpaint_model": "inpaint"}


@dataclass(frozen=True)
class Settings:
    backend: str = "auto"  # auto | classical | model, for every stage
    # every inpainter: pixels painted out past the object's soft edge, which each frame's hole is grown over as far
    # as it shows (pipeline/holes.py)
    dilate: int = 2
    device: str = "auto"  # model backends: auto | cpu | cuda | cuda:N
    fp16: bool = False  # model backends: half precision on CUDA
    ckpt_dir: str | None = None  # model backends: None means $INPAINTERZ_CKPT_DIR, else ckpt/
    # The model each stage runs (names from the registry, see `inpainterz weights list`). "auto": the first
    # present in registry order (SAM 2.1 before SAM / DeAOT; E2FGVI-HQ before E2FGVI), else the classical one.
    segmenter: str = "auto"
    tracker: str = "auto"
    inpaint_model: str = "auto"
    # Text prompts only: the detector that finds the named objects ("auto": the first present; there is no
    # classical detector, so text prompts need its weights)
    detector: str = "auto"
    long_term_mem_gap: int = 9999  # DeAOT: add a long-term memory frame every N frames
    max_len_long_term: int = 9999  # DeAOT: most long-term memory frames kept
    # classical inpainter: frames each way in which to look for the background under the hole; background
    # hidden longer is filled spatially (a longer reach recovers more under slow objects, and costs speed)
    reach: int = 16
    # every inpainter: frames painted per window. Each window re-reads the inpainter's reach on both sides,
    # so a longer chunk re-reads less; memory holds chunk + 2 x reach crops
    chunk: int = 48
    write_video: bool = True  # also write result.mp4 beside the PNGs

    def __post_init__(self):
        """Check every field's type and range here, so the CLI, the server and scripts get one line naming it."""
        for name, (kind, lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise InputError(f"settings.{name} must be a whole number, not {value!r}")
            if kind is bool and not isinstance(value, bool):
                raise InputError(f"settings.{name} must be true or false, not {value!r}")
            if kind is int and not lo <= value <= hi:
                raise InputError(f"settings.{name} must be between {lo} and {hi}, not {value}")
        for name in ("backend", "device", *_MODEL_FIELDS):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"settings.{name} must be a string, not {getattr(self, name)!r}")
        if self.ckpt_dir is not None and not isinstance(self.ckpt_dir, str):
            raise InputError(f"settings.ckpt_dir must be a folder path, not {self.ckpt_dir!r}")
        if self.backend not in BACKENDS:
            raise InputError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        for name, stage in _MODEL_FIELDS.items():
            choices = registry.choices(stage)
            if getattr(self, name) not in choices:
                raise InputError(f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        if not isinstance(d, dict):
            raise InputError(f"settings must be a map of names to values, not {d!r:.80}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**d)
