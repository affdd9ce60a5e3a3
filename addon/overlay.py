"""The last click's masks and the prompts, drawn over the sequencer preview.

Masks arrive as run-length encodings; `mask_pixels` turns one into RGBA texture data in pure
Python (slice assignment per run, no per-pixel loop). The texture is drawn on the strip's
source rectangle mapped through its transform, so it sits exactly on the object.
"""

from array import array

import bpy
import gpu
from gpu_extras.batch import batch_for_shader

from . import compat, connection, geometry, operators

COLORS = [(1.0, 0.2, 0.3), (0.2, 0.6, 1.0), (1.0, 0.8, 0.1), (0.3, 1.0, 0.4), (0.8, 0.3, 1.0)]
MASK_ALPHA = 0.45
_textures = {}  # (strip name, object id) -> (rle counts id, GPUTexture)
_handle = None


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
    gpu.state.blend_set("NONE")


def register():
    global _handle
    _handle = bpy.types.SpaceSequenceEditor.draw_handler_add(draw, (), "PREVIEW", "POST_VIEW")


def unregister():
    global _handle
    bpy.types.SpaceSequenceEditor.draw_handler_remove(_handle, "PREVIEW")
    _handle = None
    _textures.clear()
