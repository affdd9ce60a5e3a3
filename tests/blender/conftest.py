"""Tests that run inside Blender's Python (the bpy wheel), in the .venv-blender-* environments.

The add-on is built exactly as `make addon` builds it (addon/build.py), zip and wheels, and
installed the way Blender installs an extension: Blender unpacks the wheels for this platform and
Python into its own site-packages, so the add-on runs on its bundled pyzmq and msgpack (these
environments have none of their own, like Blender's Python). Blender's user folders are a scratch
folder. Teardown disables the add-on: bpy 4.2 crashes at exit while an operator class or timer of
an add-on is still registered.
"""

import importlib
import os
import pathlib
import shutil
import struct
import sys
import tempfile
import zlib

# Before bpy starts: Blender installs extensions under its user folders; keep them out of the home folder.
if "BLENDER_USER_RESOURCES" not in os.environ:
    USER_RESOURCES = os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(
        prefix="inpainterz-blender-user-"
    )
else:
    USER_RESOURCES = None

import bpy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))
import build  # noqa: E402  (addon/build.py)

MODULE = "bl_ext.user_default.inpainterz"


def pytest_unconfigure(config):
    if USER_RESOURCES is not None:  # the scratch user folders made above (the extension and its wheels)
        shutil.rmtree(USER_RESOURCES, ignore_errors=True)


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory):
    stage = tmp_path_factory.mktemp("addon")
    return build.build_zip(build.stage(stage), stage / "dist")


@pytest.fixture(scope="session")
def addon(extension_zip):
    """The add-on's package, installed from its zip and enabled."""
    result = bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}
    yield importlib.import_module(MODULE)
    bpy.ops.preferences.addon_disable(module=MODULE)


@pytest.fixture
def scene(addon):
    """The current scene with an empty sequencer and colour settings under which pixels
    round-trip exactly (Standard view, no dither)."""
    return prepare_scene(addon, bpy.context.scene)


def prepare_scene(addon, scene):
    """`scene` with an empty sequencer and pixel-exact colour settings (see the `scene` fixture)."""
    if scene.sequence_editor is not None:
        scene.sequence_editor_clear()
    scene.sequence_editor_create()
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.dither_intensity = 0
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.use_sequencer = True
    scene.render.use_compositing = False
    addon.compat.ensure_sequencer_scene(scene)
    return scene


def write_png(path, image):
    """Write an HxW (grey) or HxWx3 (RGB) uint8 array as PNG, without PIL or cv2."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    color_type = 0 if image.ndim == 2 else 2
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    pathlib.Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def render(scene, frame, path):
    """Render the scene's output at `frame` and return it as HxWx4 uint8, row 0 at the top."""
    scene.frame_set(frame)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return read_png(path)


def read_png(path):
    image = bpy.data.images.load(str(path), check_existing=False)
    w, h = image.size
    pixels = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    return np.round(pixels.reshape(h, w, 4)[::-1] * 255).astype(np.uint8)


def set_resolution(scene, w, h):
    scene.render.resolution_x, scene.render.resolution_y = w, h
