"""Results back into the sequencer: mask and clean-frame image strips aligned with their source.

Every result strip covers exactly the source strip's visible frames, on channels above it, with
the source's transform, crop and flips, so it lines up frame for frame and pixel for pixel.

- The mask strip plays the server's label maps (0 = background, k = object k); a Curves
  modifier turns every label into white, so it works as a matte for Mask modifiers. Muted.
- The matte strip plays mattes the add-on writes (`frames.write_mattes`): white exactly on the
  hole the server painted (the mask grown by its `dilate` setting, to the frame's edge where it
  runs off the picture), black elsewhere. Muted.
- The clean strip plays the inpainted frames through the matte (a Mask modifier): inside the
  hole the inpainted pixels, outside it the source strip itself, decoded by Blender, untouched
  (the server may decode the movie slightly differently: its pixels never show outside the hole).

Result strips carry two custom properties (`inpainterz_source`, `inpainterz_result`) so a re-run
finds and replaces them instead of stacking duplicates.
"""

import os
import tempfile

import bpy

from . import compat, geometry

MASK, MATTE, CLEAN = "mask", "matte", "clean"
RESULT_KINDS = (MASK, MATTE, CLEAN)
MODIFIER_NAME = "Inpainterz mask"


def results_dir(source):
    """Where a strip's results go: `//inpainterz/<strip>/` next to the blend file, or a temporary
    folder while the file is unsaved. Absolute, because the server may write there."""
    return os.path.join(results_root(), bpy.path.clean_name(source.name))


def results_root():
    """The folder of every strip's results: `//inpainterz` (or the unsaved-file one)."""
    return bpy.path.abspath("//inpainterz") if bpy.data.filepath else unsaved_results_root()


def unsaved_results_root():
    return os.path.join(tempfile.gettempdir(), "inpainterz")


def find_result(scene, source, kind):
    """The result strip of this kind made from `source`, or None."""
    for strip in compat.strips_all(scene.sequence_editor):
        if strip.get("inpainterz_source") == source.name and strip.get("inpainterz_result") == kind:
            return strip
    return None


def place_results(scene, source, mask_files, clean_files=None, matte_files=None):
    """Replace the results of `source` with a mask strip and, when given, clean and matte strips.

    `mask_files`, `clean_files` and `matte_files` are absolute paths of the frames, one per
    visible frame of the source, in order. A new mask without clean frames (a new track) also removes the old
    clean strip, which no longer matches it. Mask modifiers elsewhere that used the old mask
    strip move to the new one. Returns (mask strip, clean strip or None).
    """
    strips = compat.strips(scene.sequence_editor)
    old_mask = find_result(scene, source, MASK)
    mask_users = [  # (strip, modifier) names: RNA references do not survive removing strips
        (strip.name, modifier.name)
        for strip in compat.strips_all(scene.sequence_editor)
        if old_mask is not None and strip.get("inpainterz_source") != source.name
        for modifier in strip.modifiers
        if modifier.type == "MASK" and modifier.input_mask_strip == old_mask
    ]
    for kind in RESULT_KINDS:
        old = find_result(scene, source, kind)
        if old is not None:
            strips.remove(old)
    compat.ensure_sequencer_scene(scene)
    span = source.frame_final_start, source.frame_final_end
    clean = None
    if clean_files:
        clean = _new_image_strip(
            scene, source, CLEAN, clean_files, _free_channel(scene, source.channel, *span)
        )
        clean.colorspace_settings.name = source.colorspace_settings.name
    mask = _new_image_strip(
        scene, source, MASK, mask_files, _free_channel(scene, (clean or source).channel, *span)
    )
    mask.colorspace_settings.name = "Non-Color"
    mask.mute = True
    _nonzero_to_white(mask)
    for strip_name, modifier_name in mask_users:
        compat.strips_all(scene.sequence_editor)[strip_name].modifiers[modifier_name].input_mask_strip = mask
    if clean is not None:
        matte = _new_image_strip(scene, source, MATTE, matte_files, _free_channel(scene, mask.channel, *span))
        matte.colorspace_settings.name = "Non-Color"
        matte.mute = True
        apply_mask_modifier(scene, clean, matte)
    return mask, clean


def mark_frames_to_check(scene, source, frames, by_object=None):
    """Timeline markers where the last Track's masks are likely wrong: one at the first frame of each run
    of `frames` (source frame indices the tracker doubts), named "check <strip>" with the objects doubted
    there (`by_object`: {object id: its doubted frames}, where the tracker tells them apart, so the
    editor knows which object's click to add) and the run's length. The editor jumps from one to the
    next (Jump to Marker) and fixes each with a click there.

    The markers this strip's last Track placed go first, and only those: markers are the scene's, and
    the editor's own stay (one the editor renamed or moved is the editor's). Returns the number placed.
    """
    placed = source.inpainterz.check_markers
    for mark in placed:  # one marker for each placed: a copy the editor made of one stays
        same = (m for m in scene.timeline_markers if (m.name, m.frame) == (mark.name, mark.frame))
        marker = next(same, None)
        if marker is not None:
            scene.timeline_markers.remove(marker)
    placed.clear()
    runs = []  # [first, length]
    for frame in sorted(set(frames)):
        if runs and frame == runs[-1][0] + runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([frame, 1])
    for first, length in runs:
        doubted = sorted(
            k for k, fs in (by_object or {}).items() if any(first <= f < first + length for f in fs)
        )
        objects = (
            f": object{'s' if len(doubted) > 1 else ''} {', '.join(map(str, doubted))}" if doubted else ""
        )
        name = f"check {source.name}"[:30] + objects[:18] + (f" ({length} frames)" if length > 1 else "")
        marker = scene.timeline_markers.new(name, frame=geometry.timeline_frame(source, first))
        mark = placed.add()
        mark.name, mark.frame = marker.name, marker.frame
    source.inpainterz.frames_to_check = sum(length for _, length in runs)
    return len(runs)


def _nonzero_to_white(strip):
    """A Curves modifier sending 0 to black and anything from 1/255 up to white. The step sits at
    half a level so the curve's 256-sample table still gives exactly 0 and 1."""
    modifier = strip.modifiers.new(name="Inpainterz matte", type="CURVES")
    curve = modifier.curve_mapping.curves[3]  # the combined channel
    curve.points[0].location = (0.0, 0.0)
    curve.points[1].location = (0.5 / 255, 1.0)
    curve.points.new(1.0, 1.0)
    for point in curve.points:
        point.handle_type = "VECTOR"
    modifier.curve_mapping.update()


def apply_mask_modifier(scene, target, mask):
    """Show `target` only where the mask strip is white (a Mask modifier, replaced if present)."""
    compat.ensure_sequencer_scene(scene)
    modifier = target.modifiers.get(MODIFIER_NAME) or target.modifiers.new(name=MODIFIER_NAME, type="MASK")
    modifier.input_mask_type = "STRIP"
    modifier.input_mask_strip = mask
    return modifier


def compositor_mask_node(scene, source, mask):
    """Expose the mask sequence to the compositor: an Image node playing the label maps in step
    with the timeline (the frames the mask strip shows) and a Math node turning them into a 0/1
    matte, ready to feed a Mask or Mix node. Re-running updates both. Returns the Math node."""
    tree = compat.compositor_tree(scene)
    name = f"Inpainterz mask: {source.name}"
    first = os.path.join(bpy.path.abspath(mask.directory), mask.elements[0].filename)
    image = bpy.data.images.get(name)
    if image is None:
        image = bpy.data.images.load(first, check_existing=False)
        image.name = name
    else:
        image.filepath = first
        image.reload()
    image.source = "SEQUENCE"
    image.colorspace_settings.name = "Non-Color"
    node = tree.nodes.get(name) or tree.nodes.new("CompositorNodeImage")
    node.name = node.label = name
    node.image = image
    # The node shows file number (frame - frame_start + 1 + frame_offset) of the sequence.
    node.frame_start = mask.frame_final_start
    node.frame_duration = len(mask.elements)
    node.frame_offset = _file_number(mask.elements[0].filename) - 1
    matte = tree.nodes.get(f"{name} (matte)") or compat.new_math_node(tree)
    matte.name = matte.label = f"{name} (matte)"
    matte.operation = "GREATER_THAN"
    matte.inputs[1].default_value = 0.0
    matte.location = node.location.x + 300, node.location.y
    tree.links.new(node.outputs["Image"], matte.inputs[0])
    return matte


def _file_number(filename):
    digits = "".join(ch for ch in os.path.splitext(filename)[0] if ch.isdigit())
    return int(digits)


def _new_image_strip(scene, source, kind, files, channel):
    """An image-sequence strip of `files` starting at the source's first visible frame."""
    if len(files) != source.frame_final_duration:
        raise ValueError(f"{len(files)} {kind} frames for {source.frame_final_duration} visible frames")
    directory = os.path.dirname(files[0])
    strip = compat.strips(scene.sequence_editor).new_image(
        name=f"{source.name}.{kind}",
        filepath=_blend_relative(files[0]),
        channel=channel,
        frame_start=source.frame_final_start,
    )
    for path in files[1:]:
        if os.path.dirname(path) != directory:
            raise ValueError(f"{kind} frames must share one folder: {path}")
        strip.elements.append(os.path.basename(path))
    strip["inpainterz_source"] = source.name
    strip["inpainterz_result"] = kind
    _copy_placement(source, strip)
    return strip


def _blend_relative(path):
    """Paths under the blend file's folder are stored relative (`//...`) so the project can move."""
    if bpy.data.filepath:
        try:
            return bpy.path.relpath(path)
        except ValueError:  # another drive on Windows
            return path
    return path


def _copy_placement(source, strip):
    """Same transform, crop and flips as the source, so the result covers the same pixels."""
    for attr in ("offset_x", "offset_y", "scale_x", "scale_y", "rotation", "origin"):
        setattr(strip.transform, attr, getattr(source.transform, attr))
    for attr in ("min_x", "max_x", "min_y", "max_y"):
        setattr(strip.crop, attr, getattr(source.crop, attr))
    strip.use_flip_x, strip.use_flip_y = source.use_flip_x, source.use_flip_y


def _free_channel(scene, above, start, end):
    """The lowest channel above `above` with no strip overlapping frames [start, end)."""
    taken = {
        s.channel
        for s in compat.strips(scene.sequence_editor)
        if s.frame_final_start < end and start < s.frame_final_end
    }
    channel = above + 1
    while channel in taken:
        channel += 1
    return channel
