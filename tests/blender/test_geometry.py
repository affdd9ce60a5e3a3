"""Preview <-> source pixel mapping against what Blender actually renders."""

import numpy as np
import pytest
from conftest import render, set_resolution, write_png

W, H, DOT = 101, 61, (30, 12)  # odd sizes: Blender centres with integer arithmetic
CASES = {
    "identity": {},
    "offset": {"offset_x": 13, "offset_y": -7},
    "scale": {"scale_x": 1.5, "scale_y": 0.8},
    "rotation": {"rotation": 0.4},
    "origin": {"origin": (0.2, 0.7), "rotation": 0.5, "scale_x": 1.3},
    "flip_x": {"flip_x": True},
    "flip_y": {"flip_y": True},
    "flip_rotate": {"flip_x": True, "rotation": 0.3, "offset_x": 10},
    "crop_flip": {"crop": (5, 3, 2, 4), "flip_x": True},
}


@pytest.mark.parametrize("name", CASES)
def test_dot_lands_where_the_mapping_says(addon, scene, tmp_path, name):
    case = CASES[name]
    image = np.full((H, W, 3), 48, np.uint8)
    image[DOT[1] - 1 : DOT[1] + 2, DOT[0] - 1 : DOT[0] + 2] = 255
    write_png(tmp_path / "src.png", image)
    set_resolution(scene, 200, 150)
    strip = addon.compat.strips(scene.sequence_editor).new_image(
        name="src", filepath=str(tmp_path / "src.png"), channel=1, frame_start=1
    )
    t = strip.transform
    t.offset_x, t.offset_y = case.get("offset_x", 0), case.get("offset_y", 0)
    t.scale_x, t.scale_y = case.get("scale_x", 1), case.get("scale_y", 1)
    t.rotation, t.origin = case.get("rotation", 0), case.get("origin", (0.5, 0.5))
    strip.use_flip_x, strip.use_flip_y = case.get("flip_x", False), case.get("flip_y", False)
    strip.crop.min_x, strip.crop.max_x, strip.crop.min_y, strip.crop.max_y = case.get("crop", (0, 0, 0, 0))

    out = render(scene, 1, tmp_path / "out.png")
    ys, xs = np.nonzero(out[..., 0] > 150)
    view = xs.mean() + 0.5 - 100, 75 - (ys.mean() + 0.5)  # view space: canvas centre, y up

    expected = addon.geometry.source_to_view(strip, scene, DOT[0] + 0.5, DOT[1] + 0.5)
    assert np.allclose(view, expected, atol=0.5)
    back = addon.geometry.view_to_source(strip, scene, *view)
    assert np.allclose(back, (DOT[0] + 0.5, DOT[1] + 0.5), atol=0.5)


def test_clicks_outside_the_crop_miss(addon, scene, tmp_path):
    write_png(tmp_path / "src.png", np.zeros((H, W, 3), np.uint8))
    set_resolution(scene, 200, 150)
    strip = addon.compat.strips(scene.sequence_editor).new_image(
        name="src", filepath=str(tmp_path / "src.png"), channel=1, frame_start=1
    )
    strip.crop.min_x = 20
    left_edge = addon.geometry.source_to_view(strip, scene, 10, 30)
    assert addon.geometry.view_to_source(strip, scene, *left_edge) is None
    assert addon.geometry.view_to_source(strip, scene, *addon.geometry.source_to_view(strip, scene, 25, 30))


def test_timeline_frames_map_through_start_and_trims(addon, scene, tmp_path):
    for i in range(10):
        write_png(tmp_path / f"f_{i:04d}.png", np.zeros((8, 8, 3), np.uint8))
    strip = addon.compat.strips(scene.sequence_editor).new_image(
        name="seq", filepath=str(tmp_path / "f_0000.png"), channel=1, frame_start=20
    )
    for i in range(1, 10):
        strip.elements.append(f"f_{i:04d}.png")
    strip.frame_offset_start, strip.frame_offset_end = 3, 2
    assert (strip.frame_final_start, strip.frame_final_end) == (23, 28)
    assert addon.geometry.visible_source_range(strip) == (3, 8)
    assert addon.geometry.source_frame(strip, 25) == 5
    assert strip.strip_elem_from_frame(25).filename == "f_0005.png"
    assert addon.geometry.source_frame(strip, 22) is None and addon.geometry.source_frame(strip, 28) is None
