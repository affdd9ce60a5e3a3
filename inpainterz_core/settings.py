"""Settings for one run: plain data, so a run is a pure function of (source, prompts, settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .errors import InputError

BACKENDS = ("auto", "classical", "model")


@dataclass(frozen=True)
class Settings:
    backend: str = "auto"  # auto | classical | model, for every stage
    dilate: int = 4  # pixels added around the mask before painting it out (as the E2FGVI reference: 4 px)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    fp16: bool = False  # half precision on CUDA for the model backends
    ckpt_dir: str | None = None  # None: $INPAINTERZ_CKPT_DIR or ckpt/
    inpaint_model: str = "e2fgvi_hq"  # e2fgvi_hq (any size) | e2fgvi (432x240)
    long_term_mem_gap: int = 9999  # DeAOT: add a long-term memory frame every N frames
    max_len_long_term: int = 9999  # DeAOT: most long-term memory frames kept
    # classical inpainting: frames each way in which to look for the background under the hole; background
    # hidden longer is filled spatially. 32 recovers more of it under slow-moving objects, at about 2/3 the speed
    reach: int = 16
    # frames inpainted per window, at least 2 x the inpainter's context: each window re-reads that context
    # (with the default classical reach of 16 frames, 48 re-reads 67% extra instead of 100%); memory: chunk + 2 x context crops
    chunk: int = 48
    write_video: bool = True  # also write result.mp4 beside the PNGs

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise InputError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if not 0 <= self.dilate <= 256:
            raise InputError(f"dilate must be between 0 and 256 pixels, not {self.dilate}")
        if self.inpaint_model not in ("e2fgvi_hq", "e2fgvi"):
            raise InputError(f"inpaint_model must be e2fgvi_hq or e2fgvi, not {self.inpaint_model!r}")
        if not 1 <= self.reach <= 100:
            raise InputError(f"reach must be between 1 and 100 frames, not {self.reach}")
        if self.chunk < 1:
            raise InputError("chunk must be at least 1 frame")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**d)
