"""Reading checkpoint files and loading them into our own models, with a readable message on a mismatch.

The model builders (SAM, DeAOT, E2FGVI) import this module and nothing else of the
weights machinery, so the registry can import the builders without an import circle.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MissingWeightsError


def default_ckpt_dir() -> Path:
    """Where checkpoints live: $INPAINTERZ_CKPT_DIR, else ckpt/ beside the package."""
    env = os.environ.get("INPAINTERZ_CKPT_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "ckpt"


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The bare ``{name: tensor}`` of a checkpoint file.

    Unwraps the containers the official files use (``state_dict``, ``model``,
    ``params``) and strips a DataParallel ``module.`` prefix.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(
            f"checkpoint {path} not found: run `inpainterz weights fetch` or copy it there"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, wrong format: all one message
        raise MissingWeightsError(
            f"checkpoint {path} is unreadable ({type(e).__name__}): it may be truncated; "
            "delete it and run `inpainterz weights fetch` again"
        ) from None
    for key in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise MissingWeightsError(f"checkpoint {path} does not hold a state dict")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def describe_mismatch(model_state: dict, file_state: dict, limit: int = 5) -> list[str]:
    """Human-readable differences between a model's state dict and a checkpoint's (empty if they match)."""
    problems = []
    missing = [k for k in model_state if k not in file_state]
    unexpected = [k for k in file_state if k not in model_state]
    shapes = [
        f"{k}: file {tuple(file_state[k].shape)} vs model {tuple(model_state[k].shape)}"
        for k in model_state
        if k in file_state and tuple(file_state[k].shape) != tuple(model_state[k].shape)
    ]
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:limit])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:limit])})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:limit])})")
    return problems


def load_into(model, path: str | os.PathLike, what: str) -> None:
    """Load a checkpoint file into ``model`` strictly, or raise one clear line naming the file."""
    state = read_checkpoint(path)
    problems = describe_mismatch(model.state_dict(), state)
    if problems:
        raise MissingWeightsError(
            f"{path} is not a {what} checkpoint: {'; '.join(problems)}. "
            "Run `inpainterz weights verify` and re-fetch the file"
        )
    model.load_state_dict(state, strict=True)


def resolve_device(device: str) -> str:
    """The one place ``device="auto"`` becomes a torch device, checked so a missing GPU is one clear line."""
    import torch

    from .errors import InputError

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu or auto")
        index_text = device.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise InputError(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
        if int(index_text) >= torch.cuda.device_count():
            raise InputError(f"--device {device}: only {torch.cuda.device_count()} CUDA GPU(s) here")
        return device
    if device != "cpu":
        raise InputError(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return device
