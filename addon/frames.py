"""Pixels in and out of Blender: a strip's source frames as Blender decodes them, and mattes.

- `render_source_frames` renders a movie or image strip's source frames, untransformed, through
  a scratch scene's sequencer, as PNG files to send to a server that cannot read the media.
  These are the pixels the source strip shows, so the server's clean frames agree with it.
- `write_mattes` turns label maps into the clean strip's matte: exactly the hole the inpainter
  painted (`hole_of`: the mask grown by the radius the server measured on that frame, over the
  object's soft edge and the `dilate` margin, with the same elliptic element as the core, taken to
  the frame's edge as the core does), so outside it the timeline shows the source strip itself.
"""

import math
import os
import shutil
import struct
import tempfile
import uuid
import zlib

import bpy
import numpy as np

from . import compat, geometry


def render_source_frames(source, first, count):
    """PNG files (bytes) of source frames [first, first + count) of a movie or image strip."""
    scene = bpy.data.scenes.new(f"Inpainterz frames {uuid.uuid4().hex[:6]}")
    path = os.path.join(tempfile.gettempdir(), f"inpainterz-frame-{uuid.uuid4().hex[:8]}.png")
    try:
        strip = _lone_copy(scene, source)
        w, h = geometry.source_size(source)
        render = scene.render
        render.resolution_x, render.resolution_y, render.resolution_percentage = w, h, 100
        render.use_sequencer, render.use_compositing, render.dither_intensity = True, False, 0
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "RGB"
        render.image_settings.color_depth = "8"
        render.image_settings.compression = 15
        scene.view_settings.view_transform = "Standard"
        scene.view_settings.look = "None"
        scene.view_settings.exposure, scene.view_settings.gamma = 0.0, 1.0
        scene.display_settings.display_device = "sRGB"
        source_scene = source.id_data
        scene.sequencer_colorspace_settings.name = source_scene.sequencer_colorspace_settings.name
        render.filepath = path
        pngs = []
        for index in range(first, first + count):
            # render.render(scene=...) renders that scene at the context scene's frame: override the context
            scene.frame_current = int(strip.frame_start) + index
            with bpy.context.temp_override(scene=scene):
                bpy.ops.render.render(write_still=True)
            with open(path, "rb") as f:
                pngs.append(f.read())
        return pngs
    finally:
        bpy.data.scenes.remove(scene)
        if os.path.exists(path):
            os.remove(path)


def _lone_copy(scene, source):
    """The source's media as the only strip of `scene`, untransformed, source frame 0 at frame 1."""
    scene.sequence_editor_create()
    collection = compat.strips(scene.sequence_editor)
    if source.type == "MOVIE":
        strip = collection.new_movie(
            name="source", filepath=source.filepath, channel=1, frame_start=1, fit_method="ORIGINAL"
        )
        strip.stream_index = source.stream_index
    else:
        elements = [e.filename for e in source.elements]
        strip = collection.new_image(
            name="source",
            filepath=os.path.join(source.directory, elements[0]),
            channel=1,
            frame_start=1,
            fit_method="ORIGINAL",
        )
        for name in elements[1:]:
            strip.elements.append(name)
    strip.colorspace_settings.name = source.colorspace_settings.name
    strip.blend_type = "REPLACE"
    return strip


# -- mattes -------------------------------------------------------------------------------------------


def write_mattes(mask_files, radii, folder):
    """Write one matte per label map into `folder` (replaced as a whole); returns the file paths.

    A matte is white on the hole the server painted (`hole_of` the labels, grown by the radius the server measured
    on that frame, `radii`, one per file), black elsewhere."""
    scratch = f"{folder}.partial-{uuid.uuid4().hex[:8]}"
    os.makedirs(scratch)
    try:
        for path, radius in zip(mask_files, radii, strict=True):
            hole = hole_of(read_gray(path) > 0, radius)
            write_gray_png(os.path.join(scratch, os.path.basename(path)), hole.astype(np.uint8) * 255)
        replace_folder(scratch, folder)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return [os.path.join(folder, os.path.basename(path)) for path in mask_files]


#: The core's `pipeline.holes.EDGE_REACH`: a grown mask this close to a side the object runs off by reaches it.
EDGE_REACH = 4


def hole_of(mask, radius):
    """The hole the server paints for `mask` grown by `radius`, pixel for pixel (the core's `pipeline.holes.grown`):
    the mask grown by `radius`, and where the mask runs off the picture, taken on to the frame's edge wherever the
    grown mask comes within `radius`, and at least EDGE_REACH, of it (`masks.to_the_frame_edge`)."""
    hole = grow(mask, radius)
    h, w = mask.shape
    r = min(max(radius, EDGE_REACH), h - 1, w - 1)
    if r <= 0 or not mask.any():
        return hole
    out = hole.copy()
    # the r + 1 columns or rows along a side the mask reaches: each set where it, or any further in, is
    if mask[:, 0].any():
        out[:, : r + 1] |= np.logical_or.accumulate(hole[:, r::-1], axis=1)[:, ::-1]
    if mask[:, -1].any():
        out[:, -r - 1 :] |= np.logical_or.accumulate(hole[:, -r - 1 :], axis=1)
    if mask[0].any():
        out[: r + 1] |= np.logical_or.accumulate(hole[r::-1], axis=0)[::-1]
    if mask[-1].any():
        out[-r - 1 :] |= np.logical_or.accumulate(hole[-r - 1 :], axis=0)
    return out


def grow(mask, radius):
    """`mask` dilated by `radius` pixels with OpenCV's elliptic structuring element (the one the
    core's `masks.dilate` uses), pixel for pixel, with numpy only."""
    if radius <= 0:
        return mask.copy()
    h, w = mask.shape
    sums = np.zeros((h, w + 1), np.int32)
    np.cumsum(mask, axis=1, out=sums[:, 1:])
    columns = np.arange(w)
    rows = {}
    out = np.zeros((h, w), bool)
    for dy in range(-radius, radius + 1):
        # cv::getStructuringElement(MORPH_ELLIPSE): each row's half-width, rounded as cvRound does
        dx = round(radius * math.sqrt((radius * radius - dy * dy) * (1.0 / (radius * radius))))
        if dx not in rows:
            lo, hi = np.clip(columns - dx, 0, w), np.clip(columns + dx + 1, 0, w)
            rows[dx] = sums[:, hi] - sums[:, lo] > 0
        band = rows[dx]
        if dy >= 0:
            out[: h - dy] |= band[dy:]
        else:
            out[-dy:] |= band[: h + dy]
    return out


def read_gray(path):
    """The first channel of an 8-bit PNG as an HxW uint8 array, row 0 at the top."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        image.colorspace_settings.name = "Non-Color"
        w, h = image.size
        pixels = np.empty(w * h * image.channels, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return np.round(pixels.reshape(h, w, -1)[::-1, :, 0] * 255).astype(np.uint8)


def write_gray_png(path, image):
    """Write an HxW uint8 array as a greyscale PNG (numpy and zlib: exact bytes, no colour management)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape
    raw = np.zeros((h, w + 1), np.uint8)
    raw[:, 1:] = image  # filter byte 0 (None) on every row

    def chunk(tag, data):
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
            + chunk(b"IEND", b"")
        )


def replace_folder(new, folder):
    """Rename the finished folder `new` to `folder`, replacing an earlier one of ours, so `folder`
    is never half written."""
    old = None
    if os.path.exists(folder):
        old = f"{folder}.old-{uuid.uuid4().hex[:8]}"
        os.rename(folder, old)
    os.rename(new, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
