"""The checkpoint folder: which models are here, fetching them and checking them.

What each model is (files, URLs, hashes, licences) lives in ``registry``; downloading with
resume and hash checks in ``download``; reading a file into a network in ``checkpoints``.
A model in the Hugging Face layout is the folder ``ckpt/NAME/`` (config.json, model.safetensors,
processor and tokenizer files); the others are one file each, ``ckpt/FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoints import default_ckpt_dir, describe_mismatch, read_checkpoint
from .download import fetch_file, integrity_problem
from .errors import MissingWeightsError
from .registry import REGISTRY, ModelEntry, get, list_entries

__all__ = [
    "REGISTRY",
    "ModelEntry",
    "default_ckpt_dir",
    "fetch",
    "get",
    "list_entries",
    "path_for",
    "present",
    "verify",
]


def path_for(name: str, ckpt_dir: str | os.PathLike | None = None) -> Path:
    """The model's checkpoint file, or its folder for the Hugging Face layout."""
    folder = Path(ckpt_dir) if ckpt_dir is not None else default_ckpt_dir()
    entry = get(name)
    return folder / entry.name if entry.hf_layout else folder / entry.file_name


def present(name: str, ckpt_dir: str | os.PathLike | None = None) -> bool:
    """Whether the model's files are there (no torch import: the server's hello calls this).

    A Hugging Face layout folder needs every file the registry does not mark optional (config.json,
    model.safetensors, and for a detector its tokenizer); the optional processor files may vary.
    """
    path = path_for(name, ckpt_dir)
    entry = get(name)
    if entry.hf_layout:
        return all((path / f.file_name).is_file() for f in entry.files if not f.optional)
    return path.is_file()


def fetch(name: str, ckpt_dir: str | os.PathLike | None = None, progress: bool = True, urls=None) -> Path:
    """Download a model's files into the checkpoint folder and return its path (file or folder).

    ``urls`` replaces the registry's for a single-file model (mirrors, tests).
    """
    entry = get(name)
    dest = path_for(name, ckpt_dir)
    if not entry.hf_layout:
        fetch_file(entry.files[0], dest, progress, urls=urls, manual=entry.manual)
        return dest
    for remote in entry.files:
        fetch_file(remote, dest / remote.file_name, progress)
    return dest


def verify(name: str, ckpt_dir: str | os.PathLike | None = None) -> list[str]:
    """Problems with the present checkpoint, empty if it will load.

    Checks size and sha256 where known, then the keys and shapes against the network that
    loads it, so a wrong or renamed file is caught before a run.
    """
    entry = get(name)
    path = path_for(name, ckpt_dir)
    if not present(name, ckpt_dir):
        return [f"{path} is missing: run `inpainterz weights fetch {name}`"]
    problems = []
    for remote in entry.files:
        file = path / remote.file_name if entry.hf_layout else path
        if file.is_file():
            integrity = integrity_problem(file, remote.size, remote.sha256)
            if integrity:
                problems.append(f"{file} {integrity}")
    try:
        state = _read_state(entry, path)
    except MissingWeightsError as e:
        return [*problems, str(e)]
    try:
        model = entry.build_model(path) if entry.hf_layout else entry.build_model()
    except ImportError as e:
        return [*problems, f"cannot check the keys of {path}: the {entry.used_by} model is unavailable ({e})"]
    except (OSError, ValueError, KeyError, TypeError) as e:  # a config.json that transformers cannot read
        return [
            *problems,
            f"{path / 'config.json'} does not describe a {name} model ({type(e).__name__}: {e})",
        ]
    optional = getattr(model, "optional_keys", set())  # weights a file may hold or leave out (tied ones)
    state = {k: v for k, v in state.items() if k not in optional}
    return problems + [f"{path}: {p}" for p in describe_mismatch(model.state_dict(), state)]


class _Shape:
    """A tensor's shape without its data (what ``describe_mismatch`` reads)."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def _read_state(entry: ModelEntry, path: Path) -> dict:
    """The checkpoint's ``{name: tensor-or-shape}``: a safetensors header is read without its data."""
    if not entry.hf_layout:
        return read_checkpoint(path)
    from safetensors import SafetensorError, safe_open

    file = path / "model.safetensors"
    try:
        with safe_open(file, "pt") as f:
            return {k: _Shape(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise MissingWeightsError(
            f"{file} is unreadable ({e}): it may be truncated; delete it and run `inpainterz weights fetch "
            f"{entry.name}` again"
        ) from None
