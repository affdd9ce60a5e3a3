"""Downloading checkpoint files: resume a partial ``.part`` file, check size and sha256, then move it in place.

A half-written or wrong file never sits under the name the models load. Where the
registry records no sha256 (Hugging Face files), the hash the server publishes for
the file (``X-Linked-Etag``, the LFS object's sha256) is checked instead.
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
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from .errors import MissingWeightsError

_TIMEOUT_S = 60
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model: where it is published and what it must be."""

    file_name: str  # relative to the checkpoint folder (a model in the Hugging Face layout: NAME/file)
    urls: tuple[str, ...]  # official download locations, tried in order
    size: int | None = None  # bytes; None where no trustworthy figure is published
    sha256: str | None = None  # None: the server's published hash is checked instead, where it sends one
    optional: bool = False  # a processor file some repositories do not have: a 404 is not an error


class DownloadFailed(Exception):
    """One URL did not deliver the file; the message says why, the caller tries the next URL."""


class NotPublished(DownloadFailed):
    """The server says the file does not exist (HTTP 404)."""


def fetch_file(remote: RemoteFile, dest: Path, progress: bool = True, urls=None, manual: str | None = None):
    """Download ``remote`` to ``dest`` and return ``dest``, or None for an optional file the server lacks.

    Bytes go to ``<dest>.part`` first, so an interrupted download resumes (HTTP Range).
    ``urls`` replaces the registry's (mirrors, tests).
    """
    if dest.is_file():
        problem = integrity_problem(dest, remote.size, remote.sha256)
        if problem:
            raise MissingWeightsError(f"{dest} is already there but {problem}: delete it and fetch again")
        return dest
    if urls is None:
        if manual:
            raise MissingWeightsError(
                f"{remote.file_name} cannot be downloaded automatically: {manual}; then put it at {dest}"
            )
        urls = remote.urls

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    reasons = []
    for url in urls:
        try:
            size, sha256 = _published(url, remote)
            _download(_direct_url(url), part, remote.file_name, size, progress)
        except NotPublished as e:
            if remote.optional:
                return None
            reasons.append(f"{url}: {e}")
            continue
        except DownloadFailed as e:
            reasons.append(f"{url}: {e}")
            continue
        problem = integrity_problem(part, size, sha256)
        if problem is None:
            os.replace(part, dest)
            return dest
        part.unlink()  # resuming onto bad bytes would never give a good file
        reasons.append(f"{url}: the download {problem}, so it was deleted")
    if reasons and all("offline" in r for r in reasons):
        raise MissingWeightsError(
            f"no network: {remote.file_name} cannot be downloaded from here; download it elsewhere from "
            f"{' or '.join(remote.urls)} and put it at {dest}"
        )
    raise MissingWeightsError(
        f"could not download {remote.file_name} ({'; '.join(reasons)}): download it by hand from "
        f"{' or '.join(remote.urls)} and put it at {dest}"
    )


def integrity_problem(path: Path, size: int | None, sha256: str | None) -> str | None:
    """How the file differs from the expected size and sha256 (None if it matches or nothing is known)."""
    have = path.stat().st_size
    if size is not None and have != size:
        return f"has {have} bytes, expected {size}"
    if sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(_CHUNK):
                digest.update(block)
        if digest.hexdigest() != sha256:
            return f"has sha256 {digest.hexdigest()}, expected {sha256}"
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _published(url: str, remote: RemoteFile) -> tuple[int | None, str | None]:
    """The size and sha256 to check: the registry's, else what a Hugging Face server publishes for the file.

    Hugging Face answers a ``resolve`` URL with a redirect whose ``X-Linked-Etag`` is the
    LFS object's sha256 and ``X-Linked-Size`` its size; that first answer is read without
    following the redirect. Small files (configs) are not in LFS and carry no hash.
    """
    if remote.sha256 is not None or "/resolve/" not in url:
        return remote.size, remote.sha256
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "inpainterz"})
    try:
        response = opener.open(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        response = e  # a 3xx arrives as an HTTPError once redirects are not followed
        if e.code == 404:
            raise NotPublished("HTTP 404 Not Found") from None
        if e.code >= 400:
            raise DownloadFailed(f"HTTP {e.code} {e.reason}") from None
    except (OSError, HTTPException) as e:
        raise DownloadFailed(_reason(e)) from None
    with response:
        etag = (response.headers.get("X-Linked-Etag") or "").strip('"W/ ')
        size = response.headers.get("X-Linked-Size")
    sha256 = etag if _SHA256.match(etag) else None
    return (int(size) if size and size.isdigit() else remote.size), sha256


_DRIVE_FILE_ID = re.compile(r"drive\.google\.com/(?:file/d/|(?:uc|open)\?(?:.*&)?id=)([\w-]+)")


def _direct_url(url: str) -> str:
    """The direct-download address for a Google Drive share link; other URLs unchanged."""
    match = _DRIVE_FILE_ID.search(url)
    if match is None:
        return url
    return f"https://drive.usercontent.google.com/download?id={match.group(1)}&export=download&confirm=t"


def _download(url: str, part: Path, label: str, size: int | None, progress: bool) -> None:
    """Append the rest of ``url`` to ``part``, resuming after the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        if have == size:
            return  # complete from an earlier run: only the check is left
        part.unlink()
        have = 0
    try:
        response = _open(url, have)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the .part is already whole
            return
        if e.code == 404:
            raise NotPublished("HTTP 404 Not Found") from None
        raise DownloadFailed(f"HTTP {e.code} {e.reason}") from None
    except (OSError, HTTPException) as e:
        raise DownloadFailed(_reason(e)) from None

    if have and response.status != 206:  # the server ignored the Range header: start over
        have = 0
    length = response.headers.get("Content-Length")
    total = have + int(length) if length else size
    bar = tqdm(
        total=total,
        initial=have,
        unit="B",
        unit_scale=True,
        desc=label,
        file=sys.stderr,
        disable=not progress,
    )
    try:
        with response, bar, open(part, "ab" if have else "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    except (OSError, HTTPException) as e:
        raise DownloadFailed(f"interrupted ({_reason(e)}); fetch again to resume") from None


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
    raise DownloadFailed("the server sent a web page instead of the file (a sign-in, quota or warning page)")


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
    """Why a connection failed, in words; a name that does not resolve means this machine is offline."""
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, OSError) and getattr(reason, "errno", None) in (-2, -3, -5, 11001, 11004):
            return f"offline (cannot resolve the host: {reason})"
        return str(reason)
    return str(error) or type(error).__name__
