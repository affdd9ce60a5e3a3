"""`inpainterz batch` on a local Ray with this machine's 2 CPUs, on tiny generated shots (160x120).

One Ray serves the whole file (starting it costs seconds); the batch path uses a Ray that is
already running in the process and leaves it running.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import psutil
import pytest

from inpainterz_core import batch
from inpainterz_core.cli import main
from inpainterz_core.demo import PanClip, click_prompt
from inpainterz_core.errors import InputError
from inpainterz_core.prompts import Prompts
from inpainterz_core.settings import Settings
from inpainterz_core.video import Mp4Writer


@pytest.fixture(scope="module")
def local_ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Ray is the batch extra: pip install -e '.[batch]' (make installs it)")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=128 << 20,
        logging_level=logging.WARNING,
    )
    yield ray
    ray.shutdown()


def _write_clip(path: Path, clip: PanClip) -> None:
    with Mp4Writer(path, clip.width, clip.height, 25.0, crf=12) as video:
        for i in range(clip.frames):
            video.write(clip.frame(i))


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict:
    """Two different clips and their prompts, and each one's result through `inpainterz remove`."""
    folder = tmp_path_factory.mktemp("footage")
    shots = {}
    for name, clip in (
        ("sh010", PanClip(frames=12, width=160, height=120)),
        ("sh020", PanClip(frames=14, width=160, height=120, logo_size=34)),
    ):
        _write_clip(folder / f"{name}.mp4", clip)
        prompts = [click_prompt(clip).to_dict()]
        (folder / f"{name}.json").write_text(json.dumps(prompts))
        reference = folder / "reference" / name
        assert (
            main(
                [
                    "remove",
                    str(folder / f"{name}.mp4"),
                    "-o",
                    str(reference),
                    "--prompts",
                    str(folder / f"{name}.json"),
                    "--backend",
                    "classical",
                    "-q",
                ]
            )
            == 0
        )
        shots[name] = {"input": folder / f"{name}.mp4", "prompts": prompts, "reference": reference}
    return shots


def _shots_file(path: Path, footage: dict, failing: bool = False, settings: dict | None = None) -> Path:
    """The footage's shots; ``failing`` adds sh030, whose input is missing, and sh040, clicked off its frame."""
    shots = [
        {
            "name": name,
            "input": os.path.relpath(shot["input"], path.parent),
            "prompts": shot["prompts"],
            "settings": {"backend": "classical", **(settings or {}).get(name, {})},
        }
        for name, shot in footage.items()
    ]
    if failing:
        shots.append(
            {
                "name": "sh030",
                "input": "sh030.mp4",
                "prompts": footage["sh010"]["prompts"],
                "settings": {"backend": "classical"},
            }
        )
        shots.append(
            {
                "name": "sh040",
                "input": str(footage["sh010"]["input"]),
                "prompts": [{"points": [[500, 20]]}],
                "settings": {"backend": "classical"},
            }
        )
    path.write_text(json.dumps({"shots": shots}))
    return path


def _same_video(a: Path, b: Path) -> bool:
    """The same frames at the same times: x264 does not always give the same bytes for the same frames (15
    encodes of one shot's frames in one process, another thread allocating memory meanwhile, gave two files;
    so did the batch's worker against `inpainterz remove`), so the frames are compared decoded, within the
    codec's own noise, and the packets' times exactly."""
    with av.open(str(a)) as first, av.open(str(b)) as second:
        times = [
            [(p.pts, p.dts, p.duration) for p in c.demux(c.streams.video[0]) if p.size]
            for c in (first, second)
        ]
        if times[0] != times[1]:
            return False
        frames = zip(first.decode(video=0), second.decode(video=0), strict=True)
        return all(
            np.abs(x.to_ndarray(format="rgb24").astype(int) - y.to_ndarray(format="rgb24")).mean() < 1.5
            for x, y in frames
        )


def _files(folder: Path) -> dict[str, bytes]:
    """The frames and masks of a result, by relative path (report.json holds timings, so it differs)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for sub in ("masks", "inpainted")
        for p in sorted((folder / sub).iterdir())
    }


def _statuses(root: Path) -> dict[str, str]:
    return {r["name"]: r["status"] for r in json.loads((root / "batch-report.json").read_text())["shots"]}


def test_a_bad_shots_file_lists_every_problem_and_runs_nothing(tmp_path, capsys):
    shots = tmp_path / "shots.json"
    shots.write_text(
        json.dumps(
            {
                "shots": [
                    {
                        "name": "sh 010",
                        "input": 3,
                        "prompts": [{"frame": 0, "points": [[10, 10]]}],
                        "colour": "red",
                    },
                    {
                        "name": "sh020",
                        "input": "sh020.mp4",
                        "prompts": [],
                        "settings": {"dilate": -1, "fp16": "yes"},
                    },
                    {"name": "sh030", "input": "a.mp4", "prompts": [{"points": [[1, 2]]}]},
                    {"name": "sh030", "input": "b.mp4", "prompts": [{"points": [[1, 2]]}]},
                    {"name": "sh050", "input": "c.mp4", "prompts": [{"box": [1, 2, 3]}]},
                ]
            }
        )
    )
    assert main(["batch", str(shots), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    expected = [
        'shot 1 (sh 010): "name" must be a folder name',
        'shot 1 (sh 010): "input" must be a path (a string), not 3',
        "shot 1 (sh 010): unknown key 'colour'",
        'shot 2 (sh020): "prompts" must be a list of objects',
        "shot 2 (sh020): settings.dilate must be between 0 and 256, not -1",
        "shot 2 (sh020): settings.fp16 must be true or false",
        "shot 5 (sh050): prompt 1: a box is 4 numbers",
        "the name 'sh030' is used by more than one shot",
    ]
    lines = err.splitlines()
    assert f"{shots}: 8 problems, nothing was run:" in lines[0]
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, err)
    assert len(lines) == 1 + len(expected)
    assert not (tmp_path / "out").exists()


def test_shot_paths_are_relative_to_the_file_and_output_defaults_to_root(tmp_path):
    (tmp_path / "job").mkdir()
    shots = tmp_path / "job" / "shots.json"
    shots.write_text(
        json.dumps(
            {
                "shots": [
                    {"name": "a", "input": "clips/a.mp4", "prompts": [{"points": [[5, 5]]}]},
                    {
                        "name": "b",
                        "input": "/footage/b.mp4",
                        "output": "../done/b",
                        "prompts": [{"box": [0, 0, 9, 9]}],
                        "settings": {"dilate": 6},
                    },
                ]
            }
        )
    )
    a, b = batch.load_shots(shots, root=tmp_path / "root")
    assert (a.input, a.output) == (tmp_path / "job" / "clips" / "a.mp4", tmp_path / "root" / "a")
    assert (b.input, b.output, b.settings.dilate) == (Path("/footage/b.mp4"), tmp_path / "done" / "b", 6)
    assert batch.load_shots(shots)[0].output == tmp_path / "job" / "a"  # ROOT: the file's folder


def test_a_batch_report_someone_else_wrote_is_never_overwritten(tmp_path, footage):
    (tmp_path / "batch-report.json").write_text('{"mine": true}')
    shots = _shots_file(tmp_path / "shots.json", footage)
    with pytest.raises(InputError, match="not written by inpainterz batch"):
        batch.run(batch.load_shots(shots), report_path=tmp_path / "batch-report.json")
    assert (tmp_path / "batch-report.json").read_text() == '{"mine": true}'


def test_an_address_where_no_cluster_listens_is_one_line_at_once(tmp_path, footage):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shots = _shots_file(tmp_path / "shots.json", footage)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpainterz_core.cli",
            "batch",
            str(shots),
            "-q",
            "--address",
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"inpainterz: error: no Ray cluster answers at 127.0.0.1:{port} (Connection "
        "refused): start its head with `ray start --head`, or check the address"
    )
    assert not (tmp_path / "batch-report.json").exists()


def test_a_shot_bigger_than_any_machine_is_refused_before_any_runs(tmp_path, footage, local_ray):
    shots = batch.load_shots(_shots_file(tmp_path / "shots.json", footage), tmp_path / "out")
    with pytest.raises(InputError, match="asks for 3 CPUs but the largest machine of the Ray cluster has 2"):
        batch.run(shots, cpus_per_shot=3)
    with pytest.raises(InputError, match="asks for 1 GPU"):
        batch.run(shots, gpus_per_shot=1)
    assert not (tmp_path / "out").exists()


def test_batch_matches_remove_reports_a_missing_input_and_resumes(tmp_path, footage, local_ray, capsys):
    shots = _shots_file(tmp_path / "shots.json", footage, failing=True)
    root = tmp_path / "out"

    assert main(["batch", str(shots), "-o", str(root), "-q"]) == 1  # two shots failed, the others went on
    assert _statuses(root) == {"sh010": "done", "sh020": "done", "sh030": "failed", "sh040": "failed"}
    for name, shot in footage.items():
        assert _files(root / name) == _files(shot["reference"]), f"{name} differs from inpainterz remove"
        assert _same_video(root / name / "result.mp4", shot["reference"] / "result.mp4")
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table[:5]] == ["shot", "sh010", "sh020", "sh030", "sh040"]
    assert "failed" in table[3] and f"{tmp_path / 'sh030.mp4'} does not exist" in table[3]
    assert "failed" in table[4] and "point (500, 20) is outside the 160x120 frame" in table[4]
    assert not (root / "sh030").exists() and not (root / "sh040" / "report.json").exists()

    # Again: the finished shots are skipped, their outputs untouched.
    stamps = {name: (root / name / "report.json").stat().st_mtime_ns for name in footage}
    assert main(["batch", str(shots), "-o", str(root), "-q"]) == 1
    assert _statuses(root) == {"sh010": "skipped", "sh020": "skipped", "sh030": "failed", "sh040": "failed"}
    assert {name: (root / name / "report.json").stat().st_mtime_ns for name in footage} == stamps

    # A newer input, or other settings, make a shot run again; the other stays skipped.
    os.utime(footage["sh010"]["input"])
    shots = _shots_file(tmp_path / "shots.json", footage)
    assert main(["batch", str(shots), "-o", str(root), "-q"]) == 0
    assert _statuses(root) == {"sh010": "done", "sh020": "skipped"}
    shots = _shots_file(tmp_path / "shots.json", footage, settings={"sh020": {"dilate": 6}})
    assert main(["batch", str(shots), "-o", str(root), "-q"]) == 0
    assert _statuses(root) == {"sh010": "skipped", "sh020": "done"}
    assert json.loads((root / "sh020" / "report.json").read_text())["settings"]["dilate"] == 6

    # force redoes everything; the progress figures end at all the frames of all the shots.
    seen = []
    records = batch.run(
        batch.load_shots(shots, root),
        force=True,
        report_path=root / "batch-report.json",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert [r["status"] for r in records] == ["done", "done"]
    assert seen[-1] == (12 + 14, 12 + 14)
    assert all(done <= total for done, total in seen)


def _scratch_folders(folder: Path) -> set[Path]:
    """The scratch folders of runs writing under ``folder`` (named ``*partial*`` by the output staging)."""
    try:
        return set(folder.rglob("*partial*"))
    except OSError:  # one was renamed or deleted while we looked
        return set()


def _kill_when_writing(name: str, folder: Path, killed: list) -> threading.Thread:
    """SIGKILL the worker process running shot ``name`` once it has started writing under ``folder``."""
    earlier = _scratch_folders(folder)  # a killed attempt's leftovers do not count

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if _scratch_folders(folder) - earlier:  # this attempt's scratch folder: mid-shot
                for process in psutil.process_iter(["pid", "cmdline"]):
                    command = process.info["cmdline"] or [""]
                    if command[0].strip() == f"ray::inpainterz shot {name}":
                        os.kill(process.info["pid"], signal.SIGKILL)
                        killed.append(process.info["pid"])
                        return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_shot_is_retried_and_completes(tmp_path, local_ray):
    clip = PanClip(frames=40, width=160, height=120)
    _write_clip(tmp_path / "long.mp4", clip)
    root = tmp_path / "out"
    root.mkdir()
    shot = batch.Shot(
        "long",
        tmp_path / "long.mp4",
        root / "long",
        Prompts((click_prompt(clip),)),
        Settings(backend="classical"),
    )

    killed = []
    watcher = _kill_when_writing("long", root, killed)
    (record,) = batch.run([shot], retries=0)
    watcher.join()
    assert killed, "the shot finished before it could be killed"
    assert record["status"] == "failed" and "worker process died" in record["error"]
    assert not (root / "long" / "report.json").exists()  # no half-written result

    killed = []
    watcher = _kill_when_writing("long", root, killed)
    (record,) = batch.run([shot], retries=1)
    watcher.join()
    assert killed and not psutil.pid_exists(killed[0])
    assert record["status"] == "done", record["error"]
    report = json.loads((root / "long" / "report.json").read_text())
    assert report["frames"] == 40
    assert (
        len(list((root / "long" / "masks").iterdir()))
        == len(list((root / "long" / "inpainted").iterdir()))
        == 40
    )


@pytest.mark.parametrize("sigint", ["handled", "ignored"])
def test_sigterm_stops_the_running_shots_and_leaves_no_scratch(tmp_path, sigint):
    """As a process manager stops it: the shots running are interrupted, each deletes its scratch folder. Also
    where the batch was started with SIGINT ignored, as a shell without job control starts a background job
    (``nohup inpainterz batch ... &``): Ray interrupts a shot as if SIGINT had come, which did nothing there, and
    the shot ran on to its end."""
    clip = PanClip(frames=240, width=160, height=120)
    _write_clip(tmp_path / "long.mp4", clip)
    shots = tmp_path / "shots.json"
    shots.write_text(
        json.dumps(
            {
                "shots": [
                    {
                        "name": "long",
                        "input": "long.mp4",
                        "prompts": [click_prompt(clip).to_dict()],
                        "settings": {"backend": "classical"},
                    }
                ]
            }
        )
    )
    root = tmp_path / "out"
    batch_command = subprocess.Popen(
        [sys.executable, "-m", "inpainterz_core.cli", "batch", str(shots), "-o", str(root), "-q"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint == "ignored" else None,
    )
    deadline = time.monotonic() + 120
    while not _scratch_folders(tmp_path) and batch_command.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _scratch_folders(tmp_path), "the shot never started, or finished before it could be stopped"
    batch_command.send_signal(signal.SIGTERM)
    _, err = batch_command.communicate(timeout=120)
    assert batch_command.returncode == 130, err
    assert "inpainterz: interrupted: the shots that had finished are kept" in err
    assert not _scratch_folders(tmp_path) and not (root / "long" / "report.json").exists()
