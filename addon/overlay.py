"""The last click's masks, the prompts and the boxes Find found, drawn over the sequencer preview.

Masks arrive as run-length encodings; `mask_pixels` turns one into RGBA texture data in pure
Python (slice assignment per run, no per-pixel loop). The texture is drawn on the strip's
source rectangle mapped through its transform, so it sits exactly on the object. Found boxes are
outlined (white when kept, grey when dropped) with their phrase and score beside them.
"""

from array import array

import blf
import bpy
import gpu
from gpu_extras.batch import batch_for_shader

from . import compat, connection, geometry, operators

COLORS = [(1.0, 0.2, 0.3), (0.2, 0.6, 1.0), (1.0, 0.8, 0.1), (0.3, 1.0, 0.4), (0.8, 0.3, 1.0)]
MASK_ALPHA = 0.45
KEPT = (1.0, 1.0, 1.0, 1.0)
DROPPED = (0.5, 0.5, 0.5, 0.6)
LABEL_SIZE = 12
_textures = {}  # (strip name, object id) -> (rle counts id, GPUTexture)
_handles = []  # (handler, region type) of the draw callbacks added


def color(object_id):
    return COLORS[(object_id - 1) % len(COLORS)]


def mask_pixels(rle, rgb, alpha=MASK_ALPHA):
    """Float RGBA pixels (row 0 = the mask's top row) of a mask's RLE: `rgb` at `alpha` on it,
    transparent elsewhere."""
    h, w = rle["size"]
    pixels = array("f", bytes(4 * 4 * h * w))
    on = array("f", (*rgb, alpha))
    start = 0
    for index, count in enumerate(rle["counts"]):
        if index % 2:
            pixels[4 * start : 4 * (start + count)] = on * count
        start += count
    return pixels


def _texture(key, rle, object_id):
    cached = _textures.get(key)
    if cached is not None and cached[0] is rle:
        return cached[1]
    h, w = rle["size"]
    data = mask_pixels(rle, color(object_id))
    texture = gpu.types.GPUTexture((w, h), format="RGBA8", data=gpu.types.Buffer("FLOAT", len(data), data))
    _textures[key] = (rle, texture)
    return texture


def found_label(found):
    """What a found box is called in the panel and beside its outline."""
    return f"{found.phrase or '?'} {found.score:.2f}" + ("" if found.keep else " (dropped)")


def found_outlines(source, scene, frame):
    """(corners in view coordinates, RGBA, label) of each box Find found on source frame `frame`."""
    return [
        (
            [
                geometry.source_to_view(source, scene, x, y)
                for x, y in ((f.x0, f.y0), (f.x1, f.y0), (f.x1, f.y1), (f.x0, f.y1))
            ],
            KEPT if f.keep else DROPPED,
            found_label(f),
        )
        for f in source.inpainterz.found
        if f.frame == frame
    ]


def draw():
    context = bpy.context
    source = operators.active_source(context)
    conn = connection.current()
    if source is None or conn is None:
        return
    scene = compat.sequencer_scene(context)
    frame = geometry.source_frame(source, scene.frame_current)
    w, h = geometry.source_size(source)
    corners = [geometry.source_to_view(source, scene, x, y) for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    gpu.state.blend_set("ALPHA")
    image_shader = gpu.shader.from_builtin("IMAGE")
    for item in source.inpainterz.objects:
        shown = conn.masks.get((source.name, item.object_id))
        if shown is None or shown[0] != frame:
            continue
        # Texture row 0 is the mask's top row: the top corners get v = 0.
        batch = batch_for_shader(
            image_shader, "TRI_FAN", {"pos": corners, "texCoord": ((0, 0), (1, 0), (1, 1), (0, 1))}
        )
        image_shader.uniform_sampler(
            "image", _texture((source.name, item.object_id), shown[1], item.object_id)
        )
        batch.draw(image_shader)
    point_shader = gpu.shader.from_builtin("UNIFORM_COLOR")
    for item in source.inpainterz.objects:
        for point in item.points:
            if point.frame == frame:
                x, y = geometry.source_to_view(source, scene, point.x, point.y)
                square = ((x - 4, y - 4), (x + 4, y - 4), (x + 4, y + 4), (x - 4, y + 4))
                point_shader.uniform_float(
                    "color", (0.1, 1.0, 0.2, 1.0) if point.positive else (1.0, 0.1, 0.1, 1.0)
                )
                batch_for_shader(point_shader, "TRI_FAN", {"pos": square}).draw(point_shader)
        for box in item.boxes:
            if box.frame == frame:
                outline = [
                    geometry.source_to_view(source, scene, x, y)
                    for x, y in ((box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1))
                ]
                point_shader.uniform_float("color", (*color(item.object_id), 1.0))
                batch_for_shader(point_shader, "LINE_LOOP", {"pos": outline}).draw(point_shader)
    for outline, rgba, _ in found_outlines(source, scene, frame):
        point_shader.uniform_float("color", rgba)
        batch_for_shader(point_shader, "LINE_LOOP", {"pos": outline}).draw(point_shader)
    gpu.state.blend_set("NONE")


def draw_labels():
    """The phrase and score of each found box, in screen pixels above its top-left corner."""
    context = bpy.context
    source = operators.active_source(context)
    if source is None or not len(source.inpainterz.found) or context.region is None:
        return
    scene = compat.sequencer_scene(context)
    frame = geometry.source_frame(source, scene.frame_current)
    view2d = context.region.view2d
    blf.size(0, LABEL_SIZE)
    for outline, rgba, label in found_outlines(source, scene, frame):
        x = min(p[0] for p in outline)
        y = max(p[1] for p in outline)
        rx, ry = view2d.view_to_region(x, y, clip=False)
        blf.position(0, rx + 2, ry + 4, 0)
        blf.color(0, *rgba)
        blf.draw(0, label)


def register():
    for callback, kind in ((draw, "POST_VIEW"), (draw_labels, "POST_PIXEL")):
        handler = bpy.types.SpaceSequenceEditor.draw_handler_add(callback, (), "PREVIEW", kind)
        _handles.append(handler)


def unregister():
    while _handles:
        bpy.types.SpaceSequenceEditor.draw_handler_remove(_handles.pop(), "PREVIEW")
    _textures.clear()
