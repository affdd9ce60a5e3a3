"""The server the add-on starts itself (Start Local Server): it reads the strips' media and writes the
add-on's result folders without the user passing --allow-root, and it ends with Stop Server, with
the add-on and with Blender. Runs a real server from the repository's .venv (classical backends)."""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import time

import bpy
import numpy as np
import pytest
from conftest import MODULE, ROOT, set_resolution, write_png

SERVER_PYTHON = ROOT / ".venv" / "bin" / "python"
W, H, N = 64, 48, 4

pytestmark = pytest.mark.skipif(not SERVER_PYTHON.exists(), reason=f"{SERVER_PYTHON} is absent")


def free_address(count=1):
    """`count` distinct free loopback addresses (the sockets stay bound until all are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        addresses = [f"tcp://127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return addresses[0] if count == 1 else addresses


def server_env(tmp_path):
    """The repository's server importable as `inpainterz_server`, installed or not."""
    path = tmp_path / "path"
    path.mkdir(exist_ok=True)
    if not (path / "inpainterz_server").exists():
        (path / "inpainterz_server").symlink_to(ROOT / "server")
    return os.pathsep.join([str(path), str(ROOT)])


def wait_for(addon, done, timeout=120):
    deadline = time.monotonic() + timeout
    while not done():
        addon.connection.poll()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_own_server_reads_media_and_writes_results_of_an_unsaved_file(addon, tmp_path, monkeypatch):
    """Finding 3: media and results outside the home folder, the file never saved: Track works,
    the server reading the media and writing the results itself (no upload, no download)."""
    monkeypatch.setenv("PYTHONPATH", server_env(tmp_path))
    if bpy.data.filepath:  # an earlier test saved the file: start a new, unsaved one
        bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.sequence_editor_create()
    addon.compat.ensure_sequencer_scene(scene)
    src = tmp_path / "media"
    src.mkdir()
    for i in range(N):
        image = np.full((H, W, 3), 90, np.uint8)
        image[10:30, 20:40] = (250, 250, 250)
        write_png(src / f"shot_{i:04d}.png", image)
    set_resolution(scene, W, H)
    source = addon.compat.strips(scene.sequence_editor).new_image(
        name="unsaved", filepath=str(src / "shot_0000.png"), channel=1, frame_start=5
    )
    for i in range(1, N):
        source.elements.append(f"shot_{i:04d}.png")
    scene.sequence_editor.active_strip = source
    scene.frame_set(5)
    prefs = addon.props.preferences()
    prefs.python, prefs.address = str(SERVER_PYTHON), free_address()
    addon.connection.close()
    try:
        assert bpy.ops.inpainterz.start_server() == {"FINISHED"}
        conn = addon.connection.current()
        wait_for(addon, lambda: (conn.hello is not None and not conn.starting) or conn.error)
        assert conn.error is None, conn.error
        assert not str(src).startswith(str(pathlib.Path.home()))
        assert bpy.ops.inpainterz.add_box(image_x0=18, image_y0=8, image_x1=42, image_y1=32) == {"FINISHED"}
        assert bpy.ops.inpainterz.track() == {"FINISHED"}
        wait_for(addon, lambda: not conn.jobs)
        assert conn.error is None, conn.error
        assert [key[1] for key in conn.sessions] == [None]  # opened by path: not uploaded
        results = pathlib.Path(addon.strips.results_dir(source))
        assert results.parent == pathlib.Path(addon.strips.unsaved_results_root())
        assert sorted(os.listdir(results / "masks")) == [
            f"{i:06d}.png" for i in range(N)
        ]  # the server wrote them
        mask = addon.strips.find_result(scene, source, addon.strips.MASK)
        assert mask.elements[0].filename == "000000.png" and len(mask.elements) == N
        process = addon.connection.own_server().process
        assert process.poll() is None

        # Finding 4: Stop Server stops it.
        assert bpy.ops.inpainterz.stop_server() == {"FINISHED"}
        assert process.poll() is not None
        assert addon.connection.own_server() is None
    finally:
        addon.connection.stop_own_server()
        addon.connection.close()


def test_own_server_ends_with_the_add_on_and_with_blender(addon, tmp_path):
    """Finding 4: disabling the add-on stops its server, and so does quitting Blender with the add-on
    enabled (Blender's Python, in a process of its own, with the extension the session installed)."""
    script = textwrap.dedent(f"""
        import importlib, sys, time
        import bpy
        bpy.ops.preferences.addon_enable(module={MODULE!r})
        inpainterz = importlib.import_module({MODULE!r})

        def start(address):
            prefs = inpainterz.props.preferences()
            prefs.python, prefs.address = {str(SERVER_PYTHON)!r}, address
            bpy.ops.inpainterz.start_server()
            conn = inpainterz.connection.current()
            deadline = time.monotonic() + 120
            while conn.hello is None or conn.starting:
                assert time.monotonic() < deadline and not conn.error, conn.error
                inpainterz.connection.poll()
                time.sleep(0.05)
            return inpainterz.connection.own_server().process

        process = start(sys.argv[1])
        bpy.ops.preferences.addon_disable(module={MODULE!r})
        print("after disable:", process.poll() is not None, flush=True)
        bpy.ops.preferences.addon_enable(module={MODULE!r})
        inpainterz = importlib.import_module({MODULE!r})
        process = start(sys.argv[2])
        print("pid:", process.pid, flush=True)
    """)
    env = {**os.environ, "PYTHONPATH": server_env(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", script, *free_address(2)], env=env, capture_output=True, text=True, timeout=300
    )
    assert "after disable: True" in run.stdout, run.stdout + run.stderr
    assert "pid:" in run.stdout, run.stdout + run.stderr
    pid = int(run.stdout.split("pid:")[1].split()[0])
    deadline = time.monotonic() + 20
    while _alive(pid):
        assert time.monotonic() < deadline, f"the server {pid} outlived Blender"
        time.sleep(0.1)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its (gone) parent counts as gone
        return f.read().split(")")[-1].split()[0] != "Z"
