"""Which backend runs each stage: the model when its weights are there, else the classical one.

One place decides, so the CLI, the server and the demo agree. Model modules (torch)
are imported only when a model backend is chosen: a classical run never loads torch.
"""

from __future__ import annotations

import importlib.util
import logging

from . import weights
from .errors import InputError, MissingWeightsError
from .settings import Settings

log = logging.getLogger(__name__)

STAGE_WEIGHTS = {"segment": "sam_vit_b", "track": "deaot_r50l"}
CLASSICAL = {"segment": "grabcut", "track": "flow", "inpaint": "flow-guided"}
_fallback_said = False


def _weights_name(stage: str, settings: Settings) -> str:
    return settings.inpaint_model if stage == "inpaint" else STAGE_WEIGHTS[stage]


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def choose(stage: str, settings: Settings) -> str:
    """"classical" or "model" for one stage, saying once (one line) when auto falls back."""
    global _fallback_said
    if settings.backend == "classical":
        return "classical"
    name = _weights_name(stage, settings)
    have = torch_available() and weights.present(name, settings.ckpt_dir)
    if settings.backend == "model":
        if not torch_available():
            raise MissingWeightsError("the model backends need PyTorch: pip install 'inpainterz[models]'")
        if not have:
            path = weights.path_for(name, settings.ckpt_dir)
            raise MissingWeightsError(f"{path} not found: run `inpainterz weights fetch {name}` "
                                      f"(or use --backend classical)")
        return "model"
    if not have and not _fallback_said:
        _fallback_said = True
        log.warning("model weights not found in %s: using the classical backends "
                    "(get the weights with `inpainterz weights fetch`)",
                    weights.path_for(name, settings.ckpt_dir).parent)
    return "model" if have else "classical"


def device(settings: Settings) -> str:
    """The torch device for the model backends, checked here so a missing GPU is one clear line."""
    import torch

    if settings.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if settings.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {settings.device}: PyTorch sees no CUDA GPU here; use --device cpu or auto")
        index = int(settings.device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {settings.device}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    elif settings.device != "cpu":
        raise InputError(f"--device must be auto, cpu, cuda or cuda:N, not {settings.device!r}")
    return settings.device


def make_segmenter(settings: Settings):
    if choose("segment", settings) == "model":
        from .segment.sam import SAMSegmenter

        return SAMSegmenter(weights.path_for("sam_vit_b", settings.ckpt_dir), device=device(settings))
    from .segment.classical import GrabCutSegmenter

    return GrabCutSegmenter()


def make_tracker(settings: Settings):
    if choose("track", settings) == "model":
        from .track.deaot import DeAOTTracker

        return DeAOTTracker(weights.path_for("deaot_r50l", settings.ckpt_dir), device=device(settings),
                            fp16=settings.fp16, long_term_mem_gap=settings.long_term_mem_gap,
                            max_len_long_term=settings.max_len_long_term)
    from .track.classical import FlowTracker

    return FlowTracker()


def make_inpainter(settings: Settings):
    if choose("inpaint", settings) == "model":
        from .inpaint.e2fgvi import E2FGVIInpainter

        variant = "hq" if settings.inpaint_model == "e2fgvi_hq" else "cvpr22"
        return E2FGVIInpainter(variant, weights.path_for(settings.inpaint_model, settings.ckpt_dir),
                               device=device(settings), fp16=settings.fp16)
    from .inpaint.classical import FlowGuidedInpainter

    return FlowGuidedInpainter(context=settings.reach)


def describe(component) -> dict:
    """Name and device of a built backend, for reports."""
    return {"name": component.name, "device": getattr(component, "device", "cpu")}


def available_backends(ckpt_dir: str | None = None) -> dict:
    """What this machine can run: per stage the backends, the device, and which weights are present.

    Torch (hundreds of MB) is imported only to name the device when some checkpoint is
    present, i.e. when a model backend could actually run; otherwise the device is "cpu".
    """
    present = {e.name: weights.present(e.name, ckpt_dir) for e in weights.list_entries()}
    device = "cpu"
    if torch_available() and any(present.values()):
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    stages = {}
    for stage in ("segment", "track", "inpaint"):
        names = [CLASSICAL[stage]]
        models = ["e2fgvi_hq", "e2fgvi"] if stage == "inpaint" else [STAGE_WEIGHTS[stage]]
        if torch_available():
            names += [m for m in models if present[m]]
        stages[stage] = names
    return {"stages": stages, "device": device, "torch": torch_available(), "weights": present}
