"""Which backend runs each stage: a model from the registry when its weights are there, else the classical one.

One place decides, so the CLI, the server and the demo agree. Model modules (torch)
are imported only when a model backend is chosen: a classical run never loads torch.
"""

from __future__ import annotations

import importlib.util
import logging

from . import registry, weights
from .errors import MissingWeightsError
from .settings import Settings

log = logging.getLogger(__name__)

CLASSICAL = registry.CLASSICAL
_fallback_said = False


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _requested(stage: str, settings: Settings) -> str:
    return {
        "detect": settings.detector,
        "segment": settings.segmenter,
        "track": settings.tracker,
        "inpaint": settings.inpaint_model,
    }[stage]


def choose_model(stage: str, settings: Settings) -> str | None:
    """The registry name of the model that runs ``stage``, or None for the classical backend.

    "detect" has no classical backend: see ``make_detector``.

    ``auto`` takes the first model present for the stage in registry order (SAM 2.1 first);
    a named model must be present. ``--backend model`` refuses to fall back; ``auto`` says
    once (one line) when it does.
    """
    global _fallback_said
    if settings.backend == "classical":
        return None
    requested = _requested(stage, settings)
    candidates = [e.name for e in registry.for_stage(stage)] if requested == registry.AUTO else [requested]
    have = [n for n in candidates if weights.present(n, settings.ckpt_dir)] if torch_available() else []
    if have:
        return have[0]
    if requested != registry.AUTO or settings.backend == "model":
        if not torch_available():
            raise MissingWeightsError("the model backends need PyTorch: pip install 'inpainterz[models]'")
        name = requested if requested != registry.AUTO else registry.LEGACY_DEFAULT[stage]
        raise MissingWeightsError(
            f"{weights.path_for(name, settings.ckpt_dir)} not found: run "
            f"`inpainterz weights fetch {name}` (or use --backend classical)"
        )
    if not _fallback_said:
        _fallback_said = True
        log.warning(
            "model weights not found in %s: using the classical backends "
            "(get the weights with `inpainterz weights fetch`)",
            weights.path_for(registry.LEGACY_DEFAULT[stage], settings.ckpt_dir).parent,
        )
    return None


def choose(stage: str, settings: Settings) -> str:
    """ "classical" or "model" for one stage."""
    return "classical" if choose_model(stage, settings) is None else "model"


def device(settings: Settings) -> str:
    """The torch device for the model backends: ``auto`` is resolved here, once per backend built."""
    from .checkpoints import resolve_device

    return resolve_device(settings.device)


def _make(stage: str, settings: Settings):
    name = choose_model(stage, settings)
    if name is None:
        return None
    entry = registry.get(name)
    return entry.make_backend(stage, weights.path_for(name, settings.ckpt_dir), settings, device(settings))


def make_detector(settings: Settings):
    """The detector for text prompts: the requested model, or with ``auto`` the first present.

    There is no classical detector, so missing weights (or PyTorch) are a MissingWeightsError naming
    the folder and the fetch command, whatever ``backend`` says (it picks between classical and model
    backends for the stages that have both).
    """
    if not torch_available():
        raise MissingWeightsError("text prompts need PyTorch: pip install 'inpainterz[models]'")
    requested = settings.detector
    candidates = [e.name for e in registry.for_stage("detect")] if requested == registry.AUTO else [requested]
    have = [n for n in candidates if weights.present(n, settings.ckpt_dir)]
    if not have:
        name = requested if requested != registry.AUTO else registry.LEGACY_DEFAULT["detect"]
        raise MissingWeightsError(
            f"{weights.path_for(name, settings.ckpt_dir)} not found: run `inpainterz weights fetch {name}` "
            "(text prompts need a detector; clicks and boxes work without one)"
        )
    entry = registry.get(have[0])
    return entry.make_backend(
        "detect", weights.path_for(entry.name, settings.ckpt_dir), settings, device(settings)
    )


def make_segmenter(settings: Settings):
    model = _make("segment", settings)
    if model is not None:
        return model
    from .segment.classical import GrabCutSegmenter

    return GrabCutSegmenter()


def make_tracker(settings: Settings):
    model = _make("track", settings)
    if model is not None:
        return model
    from .track.classical import FlowTracker

    return FlowTracker()


def make_inpainter(settings: Settings):
    model = _make("inpaint", settings)
    if model is not None:
        return model
    from .inpaint.classical import FlowGuidedInpainter

    return FlowGuidedInpainter(reach=settings.reach)


def describe(component) -> dict:
    """Name and device of a built backend, for reports."""
    return {"name": component.name, "device": getattr(component, "device", "cpu")}


def available_backends(ckpt_dir: str | None = None) -> dict:
    """What this machine can run: per stage the backends, the device, and which weights are present.

    Torch (hundreds of MB) is imported only to name the device when some checkpoint is
    present, i.e. when a model backend could actually run; otherwise the device is "cpu".
    """
    present = {e.name: weights.present(e.name, ckpt_dir) for e in registry.list_entries()}
    device = "cpu"
    if torch_available() and any(present.values()):
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    stages = {}
    for stage in registry.STAGES:
        names = [CLASSICAL[stage]] if stage in CLASSICAL else []  # no classical detector
        if torch_available():
            names += [e.name for e in registry.for_stage(stage) if present[e.name]]
        stages[stage] = names
    return {"stages": stages, "device": device, "torch": torch_available(), "weights": present}
