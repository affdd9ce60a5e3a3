"""Output folders: what Inpainterz writes, how it replaces its own earlier results, and nothing else.

The rules (the CLI, the library and the server's jobs all follow them):

- A run builds its outputs in a scratch folder inside the output folder and moves
  each one into place only when the whole stage succeeded, so an interrupted or
  failed run leaves the earlier outputs as they were, never half-written ones.
- Every output Inpainterz moves into a folder is recorded in that folder's
  manifest, ``.inpainterz.json``, with a fingerprint (inode, size and mtime of a
  file; inode and the names inside a folder). A later run replaces an output of
  the same name only while the fingerprint still matches: a file or folder the
  user made, copied in, or added files to is never deleted; the run is refused
  with one line saying which one and what to do.
- Files and folders Inpainterz does not name (a user's notes, the source video
  kept beside the results) are never touched.
- Scratch and replaced outputs are named ``.inpainterz-partial-<pid>@<host>-*`` and
  ``.inpainterz-old-<pid>@<host>-*``; leftovers of a process that no longer runs on
  this host (a killed run) are swept by the next run in the same folder. Another
  host's are left alone: on shared storage its pid means nothing here.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

MANIFEST = ".inpainterz.json"
_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"
SCRATCH_PREFIX = ".inpainterz-partial-"
OLD_PREFIX = ".inpainterz-old-"

#: What a whole ``remove`` writes; the stages write parts of it.
RESULT_NAMES = ("masks", "track.json", "inpainted", "result.mp4", "report.json")

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


# -- writing files ------------------------------------------------------------------------------------


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB (HxWx3) or single-channel (HxW) uint8 image as PNG.

    Encoded in memory and written with Python's own file calls, so a full disk or a
    missing permission surfaces as an ``OSError`` with its errno (``cv2.imwrite``
    only returns False).

    One fixed PNG row filter instead of libpng's per-row choice among all five: "up" for
    frames (2.5x faster at 1080p, and no larger: video frames are smooth from row to row),
    none for label maps (4x faster and smaller: long runs of one id compress as they are).
    The pixels are the same either way.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    row_filter = cv2.IMWRITE_PNG_FILTER_UP if image.ndim == 3 else cv2.IMWRITE_PNG_FILTER_NONE
    ok, data = cv2.imencode(
        ".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, row_filter]
    )
    if not ok:
        raise InputError(f"cannot encode {Path(path).name} as PNG ({image.dtype}, shape {image.shape})")
    with open(path, "wb") as f:
        f.write(data.tobytes())


def _write_json(path: Path, data: dict) -> None:
    """Replace ``path`` atomically: readers see the old or the new file, never half of one."""
    tmp = path.with_name(f"{_scratch_name(SCRATCH_PREFIX)}.json")
    try:
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def disk_errors(out_dir: Path) -> Iterator[None]:
    """Turn a full disk anywhere below into one line that names the output folder, not a scratch path."""
    parts = Path(out_dir).parts
    scratch = next((i for i, part in enumerate(parts) if part.startswith(SCRATCH_PREFIX)), len(parts))
    shown = Path(*parts[:scratch])  # a stage run inside another's scratch names the user's folder
    try:
        yield
    except OSError as e:
        if e.errno in _DISK_FULL:
            raise InputError(
                f"no space left on the disk holding {shown}: free some space and run again "
                "(nothing was written)"
            ) from None
        raise


# -- fingerprints and the manifest ---------------------------------------------------------------------


def fingerprint(path: Path) -> list:
    """What identifies an output we wrote: a file by inode, size and mtime; a folder by inode and its names."""
    st = path.lstat()
    if path.is_symlink():
        return ["link", st.st_ino]
    if path.is_dir():
        names = "\n".join(sorted(p.name for p in path.iterdir()))
        return ["dir", st.st_ino, hashlib.sha1(names.encode("utf-8", "surrogateescape")).hexdigest()]
    return ["file", st.st_ino, st.st_size, st.st_mtime_ns]


def _read_manifest(folder: Path) -> dict[str, list[list]]:
    """The accepted fingerprints of each output recorded in ``folder`` (none when there is no manifest)."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
        outputs = data["outputs"]
        return (
            {str(k): [list(fp) for fp in v] for k, v in outputs.items()}
            if data.get("written_by") == "inpainterz"
            else {}
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_manifest(folder: Path, outputs: dict[str, list[list]]) -> None:
    _write_json(folder / MANIFEST, {"written_by": "inpainterz", "version": 1, "outputs": outputs})


def is_ours(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` is an output Inpainterz wrote there and nobody changed since."""
    path = folder / name
    if not (path.exists() or path.is_symlink()):
        return False
    return fingerprint(path) in _read_manifest(folder).get(name, [])


def is_result_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an earlier Inpainterz result (it has our manifest)."""
    return bool(_read_manifest(folder))


# -- checks before a run ---------------------------------------------------------------------------------


def check_output_folder(out_dir: Path, names: Iterable[str], *, whole_result: bool = False) -> None:
    """Refuse, before any work, an output folder this run could not write without harming the user's files.

    ``names`` are the outputs the run will write or replace. With ``whole_result``
    (``remove``), a non-empty folder must also be an earlier Inpainterz result:
    results are not scattered into a folder of footage by mistake.
    """
    out_dir = Path(out_dir)
    existing = next((p for p in [out_dir, *out_dir.parents] if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        raise InputError(f"{existing} is a file, not a folder: give a new or empty folder for the output")
    if existing is None or not os.access(existing, os.W_OK):
        raise InputError(f"cannot write to {out_dir}: the folder is not writable")
    if existing != out_dir:
        return  # the folder does not exist yet: nothing of the user's can be in the way
    if (
        whole_result
        and any(not _is_bookkeeping(p.name) for p in out_dir.iterdir())
        and not is_result_folder(out_dir)
    ):
        raise InputError(
            f"{out_dir} exists and is not an earlier Inpainterz result: "
            "give a new or empty folder (an earlier result there is replaced)"
        )
    for name in names:
        path = out_dir / name
        if (path.exists() or path.is_symlink()) and not is_ours(out_dir, name):
            raise InputError(
                f"{path} was not written by Inpainterz (or was changed since): "
                "move it away or give another output folder; it is never replaced"
            )


def _is_bookkeeping(name: str) -> bool:
    return name == MANIFEST or name.startswith((SCRATCH_PREFIX, OLD_PREFIX))


# -- staging and publishing -----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _scratch_name(prefix: str) -> str:
    """``<prefix><pid>@<host>-<random>``: whose it is, so only a dead process's scratch is ever swept."""
    return f"{prefix}{os.getpid()}@{_HOST}-{uuid.uuid4().hex[:8]}"


def sweep_leftovers(folder: Path) -> None:
    """Delete our own scratch of runs on this host whose process is gone (killed); a live run's stays."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        for prefix in (SCRATCH_PREFIX, OLD_PREFIX):
            if not path.name.startswith(prefix):
                continue
            pid, _, host = path.name[len(prefix) :].rpartition("-")[0].partition("@")
            if host == _HOST and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                _delete(path)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged(out_dir: Path, names: Iterable[str], *, whole_result: bool = False) -> Iterator[Path]:
    """A scratch folder inside ``out_dir`` whose outputs named ``names`` replace ours when the block succeeds.

    Each name the block produced in the scratch folder is moved into ``out_dir``; a
    name it did not produce, whose earlier output of ours is still there, is deleted
    (it would no longer match the others: an inpaint without ``result.mp4`` must not
    leave the previous run's video looking like its own). On failure or interruption
    the scratch folder goes and ``out_dir`` keeps what it had.
    """
    out_dir = Path(out_dir)
    names = tuple(names)
    with disk_errors(out_dir):
        check_output_folder(out_dir, names, whole_result=whole_result)
        created = [p for p in [out_dir, *out_dir.parents] if not p.exists()]
        out_dir.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(out_dir)
        scratch = out_dir / _scratch_name(SCRATCH_PREFIX)
        scratch.mkdir()
        try:
            yield scratch
            _publish(scratch, out_dir, names)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            for folder in created:  # a failed run leaves no empty folders of ours behind
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _publish(scratch: Path, out_dir: Path, names: tuple[str, ...]) -> None:
    """Move the scratch outputs into place. The manifest accepts both the old and the new fingerprint
    while the moves run, so a run killed halfway still leaves every output recognisably ours."""
    check_output_folder(out_dir, names)  # again: the user may have put something there meanwhile
    manifest = _read_manifest(out_dir)
    new = {name: fingerprint(scratch / name) for name in names if (scratch / name).exists()}
    for name, fp in new.items():
        manifest[name] = [fp, *manifest.get(name, [])]
    _write_manifest(out_dir, manifest)
    trash = out_dir / _scratch_name(OLD_PREFIX)
    trash.mkdir()
    try:
        for name in names:
            final = out_dir / name
            if final.exists() or final.is_symlink():
                final.rename(trash / name)  # ours: check_output_folder said so
            if name in new:
                (scratch / name).rename(final)
                manifest[name] = [new[name]]
            else:
                manifest.pop(name, None)
        _write_manifest(out_dir, manifest)
    finally:
        shutil.rmtree(trash, ignore_errors=True)
