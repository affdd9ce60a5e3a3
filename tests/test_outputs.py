"""Nothing lost, nothing wrong: output folders, interruptions, a full disk and bad prompts or settings.

Each test reproduces a way an earlier version lost a user's file or accepted a
value it could not honour (issue #9's findings 1, 2, 4, 18, 19, 20 and the
settings half of 14).
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from inpainterz_core import pipeline
from inpainterz_core.cli import main
from inpainterz_core.demo import PanClip, click_prompt, write_clip
from inpainterz_core.errors import InputError
from inpainterz_core.outputs import _HOST, MANIFEST, SCRATCH_PREFIX, is_ours
from inpainterz_core.prompts import ObjectPrompt, Point
from inpainterz_core.settings import Settings
from tests.test_cli import assert_one_line_error, prompt_args, run_cli

CLASSICAL = ["-q", "--backend", "classical"]


def leftovers(folder):
    return [p.name for p in folder.rglob(".inpainterz-*")]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, pan_folder, pan_clip):
    """A finished result to run again onto."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    assert main(["remove", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)]) == 0
    return out


def copy_result(earlier, tmp_path):
    """An earlier result copied as Inpainterz itself would have left it (its fingerprints re-recorded)."""
    out = tmp_path / "out"
    shutil.copytree(earlier, out)
    manifest = json.loads((out / MANIFEST).read_text())
    from inpainterz_core.outputs import fingerprint

    manifest["outputs"] = {name: [fingerprint(out / name)] for name in manifest["outputs"]}
    (out / MANIFEST).write_text(json.dumps(manifest))
    return out


# -- 1. -o on an existing file -----------------------------------------------------------------------


def test_output_onto_the_input_video_is_refused_and_the_video_kept(tmp_path, pan_mp4, pan_clip):
    video = tmp_path / "in.mp4"
    shutil.copy(pan_mp4, video)
    before = video.read_bytes()
    assert_one_line_error(
        run_cli("remove", str(video), "-o", str(video), *CLASSICAL, *prompt_args(pan_clip)), "is a file"
    )
    assert video.read_bytes() == before
    for command in ("track", "segment"):
        assert_one_line_error(
            run_cli(command, str(video), "-o", str(video), *CLASSICAL, *prompt_args(pan_clip)), "is a file"
        )
        assert video.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


# -- 2. outputs we did not write are never replaced ---------------------------------------------------


def test_track_and_inpaint_never_replace_the_users_folders(tmp_path, pan_folder, pan_clip, earlier):
    out = tmp_path / "work"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "mine.txt").write_text("my notes")
    assert_one_line_error(
        run_cli("track", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)),
        "was not written by Inpainterz",
    )
    assert (out / "masks" / "mine.txt").read_text() == "my notes"

    (out / "result.mp4").write_bytes(b"my edit")
    assert_one_line_error(
        run_cli("inpaint", str(pan_folder), "--masks", str(earlier / "masks"), "-o", str(out), *CLASSICAL),
        "result.mp4 was not written by Inpainterz",
    )
    assert (out / "result.mp4").read_bytes() == b"my edit"
    assert sorted(p.name for p in out.iterdir()) == ["masks", "result.mp4"]


def test_a_file_added_to_our_own_folder_is_never_deleted(tmp_path, pan_folder, pan_clip, earlier):
    out = copy_result(earlier, tmp_path)
    (out / "masks" / "retouched.png").write_bytes(b"hand-made")
    assert_one_line_error(
        run_cli("track", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)),
        "masks was not written by Inpainterz (or was changed since)",
    )
    assert (out / "masks" / "retouched.png").read_bytes() == b"hand-made"


def test_remove_onto_an_earlier_result_replaces_only_its_own_outputs(tmp_path, pan_folder, pan_clip, earlier):
    out = copy_result(earlier, tmp_path)
    (out / "take1.mov").write_bytes(b"source footage")
    (out / "notes.txt").write_text("client wants it by Friday")
    old_mask = (out / "masks" / "000000.png").stat().st_ino
    assert main(["remove", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)]) == 0
    assert (out / "take1.mov").read_bytes() == b"source footage"
    assert (out / "notes.txt").read_text() == "client wants it by Friday"
    assert (out / "masks" / "000000.png").stat().st_ino != old_mask, "the earlier masks were not replaced"
    assert all(
        is_ours(out, name) for name in ("masks", "track.json", "inpainted", "result.mp4", "report.json")
    )
    assert not leftovers(out)


def test_track_then_inpaint_into_one_folder_and_again(tmp_path, pan_folder, pan_clip):
    """The stage commands replace their own earlier outputs (as the server's jobs do), nothing else."""
    out = tmp_path / "stages"
    for _ in range(2):
        assert main(["track", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)]) == 0
        assert (
            main(["inpaint", str(pan_folder), "--masks", str(out / "masks"), "-o", str(out), *CLASSICAL]) == 0
        )
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST,
        "inpainted",
        "masks",
        "report.json",
        "result.mp4",
        "track.json",
    ]


def test_a_killed_runs_scratch_is_swept_by_the_next_run(tmp_path, pan_folder, pan_clip, earlier):
    out = copy_result(earlier, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f"{SCRATCH_PREFIX}{dead.pid}@{_HOST}-deadbeef"
    elsewhere = out / f"{SCRATCH_PREFIX}{dead.pid}@another-host-deadbeef"  # shared storage: not ours to judge
    for scratch in (stale, elsewhere):
        (scratch / "masks").mkdir(parents=True)
    assert main(["remove", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)]) == 0
    assert not stale.exists() and elsewhere.exists()


# -- 4. no stale video -----------------------------------------------------------------------------------


def test_inpaint_without_video_removes_our_earlier_video(tmp_path, pan_folder, pan_clip, earlier):
    out = copy_result(earlier, tmp_path)
    report = pipeline.inpaint(
        pan_folder, out / "masks", Settings(backend="classical", write_video=False), out
    )
    assert report["video"] is None
    assert not (out / "result.mp4").exists()
    assert json.loads((out / "report.json").read_text())["video"] is None
    report = pipeline.inpaint(pan_folder, out / "masks", Settings(backend="classical"), out)
    assert report["video"] == "result.mp4" and (out / "result.mp4").is_file()
    assert report["audio"] == []  # an image folder has no audio to keep


# -- 18. a full disk --------------------------------------------------------------------------------------


@pytest.mark.parametrize("filling", ["masks", "inpainted"])
def test_a_full_disk_is_one_line_and_leaves_nothing(
    tmp_path, pan_folder, pan_clip, monkeypatch, capsys, filling
):
    """The disk fills while the tracker's masks are written, or the painted frames (written from the
    compositing thread, on the writer's): either way one line, and nothing left."""
    from inpainterz_core.pipeline import writer

    real = writer.write_png
    calls = []

    def write_until_full(path, image):
        if os.path.basename(os.path.dirname(path)) == filling:
            calls.append(path)
            if len(calls) > 10:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, image)

    monkeypatch.setattr(writer, "write_png", write_until_full)
    out = tmp_path / "o"
    assert main(["remove", str(pan_folder), "-o", str(out), *CLASSICAL, *prompt_args(pan_clip)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "no space left on the disk holding" in err[0] and str(out) in err[0], err
    assert SCRATCH_PREFIX not in err[0]
    assert not out.exists() and not leftovers(tmp_path)


def mount_small_disk(mount, size_kb):
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root on Linux); the monkeypatched test covers it")


def test_a_really_full_disk_while_writing_the_video(tmp_path):
    """On a filesystem with room for the frames but not for all of result.mp4 too."""
    clip = PanClip(frames=40, width=320, height=180)
    frames = tmp_path / "frames"
    write_clip(clip, frames)
    p = click_prompt(clip)
    x0, y0, x1, y1 = p.box
    args = [
        *CLASSICAL,
        "--point",
        f"{p.points[0].x:g},{p.points[0].y:g}",
        "--box",
        f"{x0:g},{y0:g},{x1:g},{y1:g}",
    ]
    roomy = tmp_path / "roomy"
    assert main(["remove", str(frames), "-o", str(roomy), *args]) == 0
    pages = {
        f: -(-f.stat().st_size // 4096) * 4 for f in roomy.rglob("*") if f.is_file()
    }  # kB, as tmpfs counts
    video = pages.pop(roomy / "result.mp4")
    small = tmp_path / "small"
    mount_small_disk(small, sum(pages.values()) + video // 2)
    try:
        result = run_cli("remove", str(frames), "-o", str(small / "out"), *args)
        assert_one_line_error(result, "no space left on the disk holding", str(small / "out"))
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


# -- 19. prompts are checked where they are made ----------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, words",
    [
        ({"points": [[10, 10, 0]]}, "at least one positive point"),
        ({"points": [[10, 10, 7]]}, "label must be 1"),
        ({"points": [[10, 10]], "frame": 1e400}, "whole number"),
        ({"points": [[10, 10]], "frame": 2.5}, "whole number"),
        ({"points": [[10, 10]], "frame": -1}, "between 0"),
        ({"box": [1, 2, 30, 40, 5]}, "4 numbers"),
        ({"box": [30, 2, 1, 40]}, "x0 < x1"),
        ({"points": [["a", 10]]}, "finite number"),
        ({"points": [[10, 10]], "object_id": 0}, "between 1 and 255"),
        ({"pints": [[10, 10]]}, "unknown prompt field"),
    ],
)
def test_bad_prompts_are_one_line(tmp_path, pan_folder, prompt, words):
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([prompt]).replace("Infinity", "1e400"))
    assert_one_line_error(
        run_cli("remove", str(pan_folder), "-o", str(tmp_path / "o"), "--prompts", str(prompts), *CLASSICAL),
        words,
    )
    assert not (tmp_path / "o").exists()


def test_the_library_and_the_server_get_the_same_checks():
    with pytest.raises(InputError, match="at least one positive point"):
        ObjectPrompt(points=(Point(5, 5, 0),))
    with pytest.raises(InputError, match="label"):
        Point(1, 2, 7)
    with pytest.raises(InputError, match="finite"):
        Point(float("nan"), 2)
    # a negative click beside a positive one, or beside a box, is what negatives are for
    ObjectPrompt(points=(Point(5, 5, 1), Point(9, 9, 0)))
    ObjectPrompt(points=(Point(9, 9, 0),), box=(0, 0, 20, 20))
    assert ObjectPrompt(frame=3.0, points=(Point(1, 2),)).frame == 3  # JSON may write 3.0


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"dilate": 2.5}, "settings.dilate must be a whole number"),
        ({"dilate": "x"}, "settings.dilate must be a whole number"),
        ({"dilate": True}, "settings.dilate must be a whole number"),
        ({"chunk": 0}, "settings.chunk must be between"),
        ({"write_video": "no"}, "settings.write_video must be true or false"),
        ({"device": 0}, "settings.device must be a string"),
        ({"nope": 1}, "unknown settings: nope"),
    ],
)
def test_settings_name_the_bad_field(settings, words):
    with pytest.raises(InputError, match=words):
        Settings.from_dict(settings)


# -- 20. SIGTERM is an interruption like Ctrl+C -----------------------------------------------------------


def test_sigterm_leaves_no_partial_output(tmp_path):
    clip = PanClip(frames=150, width=480, height=270)
    frames = tmp_path / "frames"
    write_clip(clip, frames)
    p = click_prompt(clip)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inpainterz_core.cli",
            "remove",
            str(frames),
            "-o",
            str(out),
            *CLASSICAL,
            "--point",
            f"{p.points[0].x:g},{p.points[0].y:g}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob(f"{SCRATCH_PREFIX}*/**/*.png"))):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not leftovers(tmp_path)


def test_write_png_round_trips_a_label_map(tmp_path):
    """Masks are written with the errno-keeping PNG writer and read back unchanged."""
    from inpainterz_core.outputs import write_png
    from inpainterz_core.video import read_mask

    labels = np.zeros((8, 8), np.uint8)
    labels[2:4, 2:4] = 3
    write_png(tmp_path / "m.png", labels)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), labels)
