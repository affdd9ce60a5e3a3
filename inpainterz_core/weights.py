"""Model checkpoints: which files exist, where they come from, and loading them with clear errors.

The registry (``list_entries``/``get``) names every official checkpoint with its
URLs, size, sha256 and licence, like torchvision's ``Weights`` entries. ``fetch``
downloads one into the checkpoint folder, resuming a partial ``.part`` file and
moving it under its final name only once its size and hash check out; ``verify``
compares a present file's keys and shapes with the model that will load it.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from .errors import InputError, MissingWeightsError


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
        raise MissingWeightsError(f"checkpoint {path} not found: run `inpainterz weights fetch` or copy it there")
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
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


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


# --- The registry -------------------------------------------------------------------------------


def _build_sam_vit_b():
    from segment_anything import sam_model_registry

    return sam_model_registry["vit_b"](checkpoint=None)


def _build_deaot_r50l():
    from .track.deaot import build_deaot

    return build_deaot("r50_deaotl")


def _build_e2fgvi():
    from .inpaint.e2fgvi import build_e2fgvi

    return build_e2fgvi("cvpr22")


def _build_e2fgvi_hq():
    from .inpaint.e2fgvi import build_e2fgvi

    return build_e2fgvi("hq")


@dataclass(frozen=True)
class WeightsEntry:
    """One official checkpoint file and everything a user must know before downloading it."""

    name: str
    file_name: str
    urls: tuple[str, ...]  # official download locations, tried in order by ``fetch``
    size: int | None  # bytes; None where no trustworthy figure is published
    sha256: str | None  # None where no trustworthy hash is published
    licence: str
    commercial_use: bool
    used_by: str  # stage and backend, e.g. "segment: sam"
    description: str
    build_model: Callable  # the model (random weights) whose state dict the file must match
    manual: str | None = None  # set when ``fetch`` cannot download it: how to get it by hand


_E2FGVI_LICENCE = "CC-BY-NC-4.0"

REGISTRY: dict[str, WeightsEntry] = {
    entry.name: entry
    for entry in (
        WeightsEntry(
            name="sam_vit_b",
            file_name="sam_vit_b_01ec64.pth",
            urls=("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",),
            size=375042383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            licence="Apache-2.0",
            commercial_use=True,
            used_by="segment: sam",
            description="Segment Anything ViT-B: clicks and boxes to an object mask",
            build_model=_build_sam_vit_b,
        ),
        WeightsEntry(
            name="deaot_r50l",
            file_name="R50_DeAOTL_PRE_YTB_DAV.pth",
            # The R50-DeAOTL PRE_YTB_DAV row of aot-benchmark's MODEL_ZOO.md (the file SAM-Track uses).
            urls=("https://drive.google.com/file/d/1QoChMkTVxdYZ_eBlZhK2acq9KMQZccPJ/view?usp=sharing",),
            # Not published upstream: the figures other projects record for this Drive file.
            size=236513959,
            sha256="7e8a8d83310739bac02817f6bf48b6bbe2bbd7d5325722f1084088eb3aee1e06",
            licence="BSD-3-Clause",
            commercial_use=True,
            used_by="track: deaot",
            description="DeAOT R50-L (YouTube-VOS + DAVIS): carries the masks from frame to frame",
            build_model=_build_deaot_r50l,
        ),
        WeightsEntry(
            name="e2fgvi",
            file_name="E2FGVI-CVPR22.pth",
            urls=(
                "https://drive.google.com/file/d/1tNJMTJ2gmWdIXJoHVi5-H504uImUiJW9/view?usp=sharing",
                "https://pan.baidu.com/s/1qXAErbilY_n_Fh9KB8UF7w?pwd=lsjw",
            ),
            size=None,
            sha256=None,
            licence=_E2FGVI_LICENCE,
            commercial_use=False,
            used_by="inpaint: e2fgvi (cvpr22)",
            description="E2FGVI (CVPR 2022), fixed 432x240 working size: paints the masked area",
            build_model=_build_e2fgvi,
            manual=(
                "the official link serves a zip (E2FGVI_CVPR22_models.zip); download it in a browser from "
                "https://drive.google.com/file/d/1tNJMTJ2gmWdIXJoHVi5-H504uImUiJW9/view or "
                "https://pan.baidu.com/s/1qXAErbilY_n_Fh9KB8UF7w?pwd=lsjw and unzip it"
            ),
        ),
        WeightsEntry(
            name="e2fgvi_hq",
            file_name="E2FGVI-HQ-CVPR22.pth",
            urls=(
                "https://drive.google.com/file/d/10wGdKSUOie0XmCr8SQ2A2FeDe-mfn5w3/view?usp=sharing",
                "https://pan.baidu.com/s/1jfm1oFU1eIy-IRfuHP8YXw?pwd=ssb3",
            ),
            size=None,
            sha256=None,
            licence=_E2FGVI_LICENCE,
            commercial_use=False,
            used_by="inpaint: e2fgvi (hq)",
            description="E2FGVI-HQ, any resolution: paints the masked area",
            build_model=_build_e2fgvi_hq,
        ),
    )
}


def list_entries() -> list[WeightsEntry]:
    return list(REGISTRY.values())


def get(name: str) -> WeightsEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown weights {name!r}: choose one of {', '.join(REGISTRY)}") from None


def path_for(name: str, ckpt_dir: str | os.PathLike | None = None) -> Path:
    folder = Path(ckpt_dir) if ckpt_dir is not None else default_ckpt_dir()
    return folder / get(name).file_name


def present(name: str, ckpt_dir: str | os.PathLike | None = None) -> bool:
    return path_for(name, ckpt_dir).is_file()


# --- fetch and verify ---------------------------------------------------------------------------

_TIMEOUT_S = 60
_CHUNK = 1 << 20


class _DownloadFailed(Exception):
    """One URL did not deliver the file; the message says why, the caller tries the next URL."""


def fetch(
    name: str,
    ckpt_dir: str | os.PathLike | None = None,
    progress: bool = True,
    urls: tuple[str, ...] | list[str] | None = None,
) -> Path:
    """Download a checkpoint into the checkpoint folder and return its path.

    Bytes go to ``<file>.part`` first, so an interrupted download resumes (HTTP
    Range) and a half-written file never sits under the name the models load.
    ``urls`` replaces the registry's (mirrors, tests).
    """
    entry = get(name)
    dest = path_for(name, ckpt_dir)
    if dest.is_file():
        problem = _integrity_problem(dest, entry)
        if problem:
            raise MissingWeightsError(f"{dest} is already there but {problem}: delete it and fetch again")
        return dest
    if urls is None:
        if entry.manual:
            raise MissingWeightsError(
                f"{entry.file_name} cannot be downloaded automatically: {entry.manual}; then put "
                f"{entry.file_name} at {dest}"
            )
        urls = entry.urls

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    reasons = []
    for url in urls:
        try:
            _download(_direct_url(url), part, entry, progress)
        except _DownloadFailed as e:
            reasons.append(f"{url}: {e}")
            continue
        problem = _integrity_problem(part, entry)
        if problem is None:
            os.replace(part, dest)
            return dest
        part.unlink()  # resuming onto bad bytes would never give a good file
        reasons.append(f"{url}: the download {problem}, so it was deleted")
    raise MissingWeightsError(
        f"could not download {entry.file_name} ({'; '.join(reasons)}): download it by hand from "
        f"{' or '.join(entry.urls)} and put it at {dest}"
    )


def verify(name: str, ckpt_dir: str | os.PathLike | None = None) -> list[str]:
    """Problems with the present checkpoint file, empty if it will load.

    Checks size and sha256 where known, then the keys and shapes against the
    model that loads it, so a wrong or renamed file is caught before a run.
    """
    entry = get(name)
    path = path_for(name, ckpt_dir)
    if not path.is_file():
        return [f"{path} is missing: run `inpainterz weights fetch {name}`"]
    problems = []
    integrity = _integrity_problem(path, entry)
    if integrity:
        problems.append(f"{path} {integrity}")
    try:
        state = read_checkpoint(path)
    except MissingWeightsError as e:
        return [*problems, str(e)]
    try:
        model = entry.build_model()
    except ImportError as e:
        return [*problems, f"cannot check the keys of {path}: the {entry.used_by} model is unavailable ({e})"]
    return problems + [f"{path}: {p}" for p in describe_mismatch(model.state_dict(), state)]


def _integrity_problem(path: Path, entry: WeightsEntry) -> str | None:
    """How the file differs from the registry's size and sha256 (None if it matches or nothing is known)."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return f"has {size} bytes, expected {entry.size}"
    if entry.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(_CHUNK):
                digest.update(block)
        if digest.hexdigest() != entry.sha256:
            return f"has sha256 {digest.hexdigest()}, expected {entry.sha256}"
    return None


_DRIVE_FILE_ID = re.compile(r"drive\.google\.com/(?:file/d/|(?:uc|open)\?(?:.*&)?id=)([\w-]+)")


def _direct_url(url: str) -> str:
    """The direct-download address for a Google Drive share link; other URLs unchanged."""
    match = _DRIVE_FILE_ID.search(url)
    if match is None:
        return url
    return f"https://drive.usercontent.google.com/download?id={match.group(1)}&export=download&confirm=t"


def _download(url: str, part: Path, entry: WeightsEntry, progress: bool) -> None:
    """Append the rest of ``url`` to ``part``, resuming after the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    if entry.size is not None and have >= entry.size:
        if have == entry.size:
            return  # complete from an earlier run: only the check is left
        part.unlink()
        have = 0
    try:
        response = _open(url, have)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the .part is already whole
            return
        raise _DownloadFailed(f"HTTP {e.code} {e.reason}") from None
    except (OSError, HTTPException) as e:
        raise _DownloadFailed(_reason(e)) from None

    if have and response.status != 206:  # the server ignored the Range header: start over
        have = 0
    length = response.headers.get("Content-Length")
    total = have + int(length) if length else entry.size
    bar = tqdm(
        total=total,
        initial=have,
        unit="B",
        unit_scale=True,
        desc=entry.file_name,
        file=sys.stderr,
        disable=not progress,
    )
    try:
        with response, bar, open(part, "ab" if have else "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    except (OSError, HTTPException) as e:
        raise _DownloadFailed(f"interrupted ({_reason(e)}); fetch again to resume") from None


def _open(url: str, start: int):
    """An open response for ``url`` from byte ``start``, past Google Drive's "can't scan for viruses" page."""
    for _ in range(2):
        headers = {"User-Agent": "inpainterz"}
        if start:
            headers["Range"] = f"bytes={start}-"
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)
        if response.headers.get_content_type() != "text/html":
            return response
        with response:
            page = response.read(_CHUNK).decode("utf-8", "replace")
        url = _confirm_url(page)
        if url is None:
            break
    raise _DownloadFailed("the server sent a web page instead of the file (a sign-in, quota or warning page)")


_FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"', re.IGNORECASE)
_HIDDEN_INPUT = re.compile(
    r'<input[^>]*\btype="hidden"[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"', re.IGNORECASE
)


def _confirm_url(page: str) -> str | None:
    """The download address behind Drive's large-file warning page (a form of hidden fields), if it is one."""
    action = _FORM_ACTION.search(page)
    fields = _HIDDEN_INPUT.findall(page)
    if action is None or not fields:
        return None
    query = urllib.parse.urlencode([(html.unescape(k), html.unescape(v)) for k, v in fields])
    return f"{html.unescape(action.group(1))}?{query}"


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
