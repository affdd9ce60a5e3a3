"""Where a strip's source pixels and frames appear in the sequencer.

The server speaks in source terms (frame index in the movie or image sequence, pixels with the
origin at the top left); the user clicks in the preview at the current timeline frame. These
functions convert between the two through the strip's transform, crop, flips and trims, the way
Blender's sequencer renders them (`sequencer_image_crop_transform_matrix` in Blender's source):
the source image is cropped in source pixels, centred on the render canvas, scaled and rotated
about its origin and moved by the offsets; flips then mirror the whole canvas.

Preview ("view") coordinates are the sequencer preview's 2D view space: render pixels with the
origin at the centre of the canvas and y up.
"""

import math


def source_size(strip):
    """Width and height of the strip's source frames in pixels."""
    element = strip.elements[0]
    return element.orig_width, element.orig_height


def source_frame(strip, timeline_frame):
    """Index of the source frame the strip shows at `timeline_frame`, or None where it shows nothing."""
    if not strip.frame_final_start <= timeline_frame < strip.frame_final_end:
        return None
    return int(timeline_frame - strip.frame_start + _animation_offset(strip))


def timeline_frame(strip, source_frame):
    """The timeline frame at which the strip shows source frame `source_frame` (the inverse of `source_frame`)."""
    return int(strip.frame_start + source_frame - _animation_offset(strip))


def visible_source_range(strip):
    """(first, end) source frame indices of the visible part of the strip, end exclusive."""
    first = source_frame(strip, strip.frame_final_start)
    return first, first + strip.frame_final_duration


def _animation_offset(strip):
    """Movie strips can skip source frames before `frame_start` (`animation_offset_start`)."""
    return getattr(strip, "animation_offset_start", 0)


def _canvas_matrix(strip, scene):
    """2x3 affine matrix taking image coordinates (source pixels, origin bottom left, y up)
    to view coordinates, before flips."""
    w, h = source_size(strip)
    t = strip.transform
    canvas_w, canvas_h = scene.render.resolution_x, scene.render.resolution_y
    # Blender centres the image with integer arithmetic: (canvas - image) / 2 in C ints.
    centre_x, centre_y = int((canvas_w - w) / 2), int((canvas_h - h) / 2)
    pivot_x, pivot_y = w * t.origin[0], h * t.origin[1]
    cos, sin = math.cos(t.rotation), math.sin(t.rotation)
    a, b = cos * t.scale_x, -sin * t.scale_y
    c, d = sin * t.scale_x, cos * t.scale_y
    # translate(pivot + offset + centre) . rotate . scale . translate(-pivot), then move to the view origin
    tx = pivot_x + t.offset_x + centre_x - (a * pivot_x + b * pivot_y) - canvas_w / 2
    ty = pivot_y + t.offset_y + centre_y - (c * pivot_x + d * pivot_y) - canvas_h / 2
    return a, b, c, d, tx, ty


def source_to_view(strip, scene, x, y):
    """Source pixel position (origin top left, y down) to preview view coordinates."""
    w, h = source_size(strip)
    a, b, c, d, tx, ty = _canvas_matrix(strip, scene)
    ix, iy = x, h - y
    vx, vy = a * ix + b * iy + tx, c * ix + d * iy + ty
    return _flip(strip, vx, vy)


def view_to_source(strip, scene, vx, vy):
    """Preview view coordinates to a source pixel position (origin top left, y down),
    or None where the point misses the strip's visible (uncropped) image."""
    w, h = source_size(strip)
    a, b, c, d, tx, ty = _canvas_matrix(strip, scene)
    det = a * d - b * c
    if det == 0:
        return None
    px, py = _flip(strip, vx, vy)
    px, py = px - tx, py - ty
    ix, iy = (d * px - b * py) / det, (a * py - c * px) / det
    crop = strip.crop
    if not (crop.min_x <= ix < w - crop.max_x and crop.min_y <= iy < h - crop.max_y):
        return None
    return ix, h - iy


def _flip(strip, vx, vy):
    """Flips mirror the whole transformed canvas about its centre (they are applied after the
    transform), so they negate view coordinates; the mirror is its own inverse."""
    return (-vx if strip.use_flip_x else vx), (-vy if strip.use_flip_y else vy)
