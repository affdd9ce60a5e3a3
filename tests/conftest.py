"""Shared fixtures: generated clips (always available) and the sample clips in ../shared (when present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inpainterz_core.demo import PanClip, write_clip
from inpainterz_core.video import Mp4Writer

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_clips() -> Path:
    clips = SHARED / "clips"
    if not clips.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{clips} is missing: CI always has ../shared")
        pytest.skip(f"sample clips not found at {clips} (../shared is not part of a plain checkout)")
    return clips


@pytest.fixture(scope="session")
def pan_clip() -> PanClip:
    return PanClip(frames=20, width=192, height=108)


@pytest.fixture(scope="session")
def pan_folder(tmp_path_factory, pan_clip) -> Path:
    """The small generated clip as a folder of PNGs (lossless, exact truth)."""
    folder = tmp_path_factory.mktemp("pan") / "frames"
    write_clip(pan_clip, folder)
    return folder


@pytest.fixture(scope="session")
def pan_mp4(tmp_path_factory, pan_clip) -> Path:
    path = tmp_path_factory.mktemp("pan-mp4") / "pan.mp4"
    with Mp4Writer(path, pan_clip.width, pan_clip.height, 25.0, crf=0) as video:
        for i in range(pan_clip.frames):
            video.write(pan_clip.frame(i))
    return path
