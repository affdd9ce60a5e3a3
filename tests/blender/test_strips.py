"""Result strips: alignment, compositing through the matte, replacement, Mask modifier, compositor."""

import bpy
import numpy as np
import pytest
from conftest import render, set_resolution, write_png

W, H, N = 64, 48, 6
SOURCE_RGB, CLEAN_RGB = (200, 30, 30), (30, 200, 30)


@pytest.fixture
def media(tmp_path):
    """A source image sequence (red), and per source frame: a label map with object 1 at
    x in [16, 24) and object 2 at x in [40, 44), and a clean frame (green)."""
    src, out = tmp_path / "src", tmp_path / "results"
    for folder in (src, out / "masks", out / "inpainted"):
        folder.mkdir(parents=True)
    labels = np.zeros((H, W), np.uint8)
    labels[10:30, 16:24], labels[10:30, 40:44] = 1, 2
    for i in range(N):
        write_png(src / f"src_{i:04d}.png", np.broadcast_to(np.array(SOURCE_RGB, np.uint8), (H, W, 3)))
        write_png(out / "masks" / f"{i:06d}.png", labels)
        write_png(
            out / "inpainted" / f"{i:06d}.png", np.broadcast_to(np.array(CLEAN_RGB, np.uint8), (H, W, 3))
        )
    return src, out, labels


def add_source(addon, scene, src):
    strip = addon.compat.strips(scene.sequence_editor).new_image(
        name="shot", filepath=str(src / "src_0000.png"), channel=2, frame_start=10
    )
    for i in range(1, N):
        strip.elements.append(f"src_{i:04d}.png")
    strip.frame_offset_start, strip.frame_offset_end = 1, 1  # visible: source frames 1..4
    return strip


def files(out, kind, first, stop):
    return [str(out / kind / f"{i:06d}.png") for i in range(first, stop)]


def test_results_align_and_show_the_source_itself_outside_the_hole(addon, scene, media, tmp_path):
    """Finding 5: the server decodes the movie a few levels differently from Blender; its clean frames
    show only inside the hole it painted, and everywhere else the render is the source strip's own pixels."""
    src, out, labels = media
    radius = [3, 3, 5, 2, 4, 3]  # per source frame, as the server measured each frame's hole
    for i in range(N):  # the server's copy of the source is 3 levels off; the hole is painted green
        clean = np.empty((H, W, 3), np.uint8)
        clean[...] = np.array(SOURCE_RGB) + 3
        clean[addon.frames.grow(labels > 0, radius[i])] = CLEAN_RGB
        write_png(out / "inpainted" / f"{i:06d}.png", clean)
    set_resolution(scene, W, H)
    source = add_source(addon, scene, src)
    first, stop = addon.geometry.visible_source_range(source)
    assert (first, stop) == (1, 5)
    mattes = addon.frames.write_mattes(
        files(out, "masks", first, stop), radius[first:stop], str(out / "matte")
    )
    mask, clean = addon.strips.place_results(
        scene, source, files(out, "masks", first, stop), files(out, "inpainted", first, stop), mattes
    )
    matte = addon.strips.find_result(scene, source, addon.strips.MATTE)
    for strip in (mask, clean, matte):
        assert (strip.frame_final_start, strip.frame_final_end) == (
            source.frame_final_start,
            source.frame_final_end,
        )
    assert mask.type == clean.type == matte.type == "IMAGE"
    assert source.channel < clean.channel < mask.channel < matte.channel
    assert mask.mute and matte.mute and not clean.mute
    assert len(clean.elements) == len(mask.elements) == len(matte.elements) == 4

    for shown in (2, 3):  # source frames grown by 5 and by 2
        picture = render(scene, source.frame_final_start + shown - first, tmp_path / "out.png")[..., :3]
        hole = addon.frames.grow(labels > 0, radius[shown])
        assert (picture[hole] == CLEAN_RGB).all()
        assert (picture[~hole] == SOURCE_RGB).all()

    # The mask strip on its own shows every object white.
    for strip in (source, clean):
        strip.mute = True
    mask.mute = False
    alone = render(scene, source.frame_final_start, tmp_path / "mask.png")[..., :3]
    assert (alone[labels > 0] == 255).all() and (alone[labels == 0] == 0).all()


def test_the_matte_grows_like_the_server_does(addon, tmp_path):
    """The hole is the mask grown with OpenCV's elliptic element, as `inpainterz_core.masks.dilate`."""
    dot = np.zeros((11, 11), bool)
    dot[5, 5] = True
    # cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)).sum(axis=1)
    assert addon.frames.grow(dot, 4).sum(axis=1).tolist() == [0, 1, 7, 7, 9, 9, 9, 7, 7, 1, 0]
    assert (addon.frames.grow(dot, 0) == dot).all()
    edge = np.zeros((6, 6), bool)
    edge[0, 0] = True
    assert addon.frames.grow(edge, 1).sum() == 3  # clipped at the border, nothing wraps around


def test_the_matte_takes_an_object_running_off_the_picture_to_the_edge_as_the_server_does(addon):
    """`inpainterz_core.masks.to_the_frame_edge`: along a side the mask reaches, the grown mask is taken on to
    the frame's edge wherever it comes within the growth of it; along a side it does not reach, not."""
    mask = np.zeros((30, 30), bool)
    mask[2:18, 6:12] = True  # 6 px from the left side, which the mask reaches on rows 16-17 ...
    mask[16:18, 0:6] = True
    mask[24:27, 18:24] = True  # ... and 6 px from the right side, which it does not reach
    hole, grown = addon.frames.hole_of(mask, 4), addon.frames.grow(mask, 4)
    assert hole[2:10, :2].all() and not grown[2:10, :2].any()
    assert (hole[20:, 14:] == grown[20:, 14:]).all() and not hole[24:27, 28:].any()
    assert (addon.frames.hole_of(mask, 0) == mask).all()


def test_rerun_replaces_results_and_keeps_mask_users(addon, scene, media, tmp_path):
    src, out, _ = media
    set_resolution(scene, W, H)
    source = add_source(addon, scene, src)
    other = addon.compat.strips(scene.sequence_editor).new_image(
        name="grade", filepath=str(src / "src_0000.png"), channel=8, frame_start=1
    )
    first, stop = addon.geometry.visible_source_range(source)
    mask, _ = addon.strips.place_results(
        scene,
        source,
        files(out, "masks", first, stop),
        files(out, "inpainted", first, stop),
        files(out, "masks", first, stop),
    )
    modifier = addon.strips.apply_mask_modifier(scene, other, mask)
    assert modifier.input_mask_strip == mask
    count = len(addon.compat.strips(scene.sequence_editor))

    source.frame_start += 5  # move the source, then re-run: results follow and do not stack
    source.frame_offset_start = 2
    first, stop = addon.geometry.visible_source_range(source)
    mask, clean = addon.strips.place_results(
        scene,
        source,
        files(out, "masks", first, stop),
        files(out, "inpainted", first, stop),
        files(out, "masks", first, stop),
    )
    assert len(addon.compat.strips(scene.sequence_editor)) == count
    assert (mask.frame_final_start, mask.frame_final_end) == (
        source.frame_final_start,
        source.frame_final_end,
    )
    assert mask.elements[0].filename == f"{first:06d}.png"
    assert other.modifiers[addon.strips.MODIFIER_NAME].input_mask_strip == mask

    # A new track (mask only) drops the clean strip and matte that no longer match it.
    addon.strips.place_results(scene, source, files(out, "masks", first, stop))
    assert addon.strips.find_result(scene, source, addon.strips.CLEAN) is None
    assert addon.strips.find_result(scene, source, addon.strips.MATTE) is None


def test_mask_in_the_compositor_follows_the_timeline(addon, scene, media, tmp_path):
    src, out, labels = media
    set_resolution(scene, W, H)
    source = add_source(addon, scene, src)
    first, stop = addon.geometry.visible_source_range(source)
    # Different labels per frame so a wrong frame lookup shows: frame i has object 1 only if i is odd.
    for i in range(first, stop):
        write_png(out / "masks" / f"{i:06d}.png", labels * (i % 2))
    mask, _ = addon.strips.place_results(scene, source, files(out, "masks", first, stop))
    matte = addon.strips.compositor_mask_node(scene, source, mask)
    tree = addon.compat.compositor_tree(scene)
    for node in [n for n in tree.nodes if not n.name.startswith("Inpainterz")]:
        tree.nodes.remove(node)  # 4.2's default tree renders the 3D scene into its own Composite node
    if addon.compat.IS_5:
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        output = tree.nodes.new("NodeGroupOutput")
    else:
        output = tree.nodes.new("CompositorNodeComposite")
    tree.links.new(matte.outputs[0], output.inputs[0])
    scene.render.use_sequencer, scene.render.use_compositing = False, True
    scene.render.compositor_device = "CPU"
    for i in range(first, stop):
        frame = source.frame_final_start + i - first
        picture = render(scene, frame, tmp_path / f"comp_{i}.png")[..., 0]
        assert ((picture == 255) == ((labels * (i % 2)) > 0)).all(), (
            f"timeline frame {frame}, source frame {i}: {np.unique(picture)}"
        )
    assert addon.strips.compositor_mask_node(scene, source, mask) == matte  # re-running reuses the nodes
    assert sum(n.bl_idname == "CompositorNodeImage" for n in tree.nodes) == 1
    bpy.data.images.remove(bpy.data.images[f"Inpainterz mask: {source.name}"])


def test_mask_operators_report_until_tracked_then_apply(addon, scene, media):
    """The panel's two buttons: a clear report before any track, then a modifier and compositor nodes."""
    src, out, _ = media
    set_resolution(scene, W, H)
    source = add_source(addon, scene, src)
    other = addon.compat.strips(scene.sequence_editor).new_image(
        name="grade", filepath=str(src / "src_0000.png"), channel=8, frame_start=1
    )
    scene.sequence_editor.active_strip = source
    with pytest.raises(RuntimeError, match="no mask yet"):
        bpy.ops.inpainterz.apply_mask()
    with pytest.raises(RuntimeError, match="no mask yet"):
        bpy.ops.inpainterz.mask_to_compositor()

    first, stop = addon.geometry.visible_source_range(source)
    mask, _ = addon.strips.place_results(
        scene,
        source,
        files(out, "masks", first, stop),
        files(out, "inpainted", first, stop),
        files(out, "masks", first, stop),
    )
    for strip in addon.compat.strips_all(scene.sequence_editor):
        strip.select = strip in (source, other)
    scene.sequence_editor.active_strip = source
    assert bpy.ops.inpainterz.apply_mask() == {"FINISHED"}
    assert other.modifiers[addon.strips.MODIFIER_NAME].input_mask_strip == mask
    assert not source.modifiers
    assert bpy.ops.inpainterz.mask_to_compositor() == {"FINISHED"}
    tree = addon.compat.compositor_tree(scene)
    assert tree.nodes.get("Inpainterz mask: shot").image.source == "SEQUENCE"
    assert tree.nodes.get("Inpainterz mask: shot (matte)").operation == "GREATER_THAN"
