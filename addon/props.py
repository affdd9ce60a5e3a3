"""Stored state: the prompts on each strip (saved in the .blend) and the add-on's preferences."""

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import compat
from .remote import protocol


class InpainterzPoint(bpy.types.PropertyGroup):
    """A click, in source pixels (origin top left) on a source frame."""

    frame: IntProperty()
    x: FloatProperty()
    y: FloatProperty()
    positive: BoolProperty(default=True)


class InpainterzBox(bpy.types.PropertyGroup):
    frame: IntProperty()
    x0: FloatProperty()
    y0: FloatProperty()
    x1: FloatProperty()
    y1: FloatProperty()


class InpainterzObject(bpy.types.PropertyGroup):
    """One object to remove: its clicks and boxes, on one or more keyframes."""

    object_id: IntProperty(min=1, max=255)
    points: CollectionProperty(type=InpainterzPoint)
    boxes: CollectionProperty(type=InpainterzBox)  # at most one per frame


class InpainterzFound(bpy.types.PropertyGroup):
    """A box the server found for the Find text, in source pixels on a source frame: the user keeps or
    drops it before it becomes an object."""

    frame: IntProperty()
    x0: FloatProperty()
    y0: FloatProperty()
    x1: FloatProperty()
    y1: FloatProperty()
    phrase: StringProperty()
    score: FloatProperty()
    keep: BoolProperty(name="Keep", default=True, description="Make this box an object to remove")


class InpainterzMarker(bpy.types.PropertyGroup):
    """A timeline marker this add-on placed (markers are the scene's: only those it placed are its to remove)."""

    name: StringProperty()
    frame: IntProperty()


class InpainterzStrip(bpy.types.PropertyGroup):
    """Registered on every strip as `strip.inpainterz`."""

    objects: CollectionProperty(type=InpainterzObject)
    active_object: IntProperty(description="Index of the object new clicks go to")
    find_text: StringProperty(
        name="Find",
        description='What to remove, in words: phrases separated by "." (e.g. "person. dog"); '
        "Find shows the boxes found on the current frame",
    )
    find_threshold: FloatProperty(
        name="Threshold",
        default=0.35,
        min=0.01,
        max=1.0,
        description="Lowest score a found box may have: lower it when Find misses an object, "
        "raise it when it finds too much",
    )
    found: CollectionProperty(type=InpainterzFound)
    dropped: CollectionProperty(
        type=InpainterzFound,
        description="The boxes of the last Find left unticked at Add Found: Look Again keeps them in the picture",
    )
    find_frame: IntProperty(default=-1, description="Source frame of the last Find answered (-1: none)")
    check_markers: CollectionProperty(
        type=InpainterzMarker,
        description="The markers the last Track placed where its masks are likely wrong",
    )
    frames_to_check: IntProperty(
        description="How many frames the last Track doubts (0: none, or it cannot tell)"
    )
    find_every: IntProperty(
        name="Look Again Every",
        default=0,
        min=0,
        soft_max=100,
        description="While tracking, look for more of what Find names every this many frames and track "
        "what enters later as new objects (0: track only the objects kept)",
    )


class InpainterzPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    address: StringProperty(
        name="Server", default=protocol.DEFAULT_ADDRESS, description="ZeroMQ address of the Inpainterz server"
    )
    connection_file: StringProperty(
        name="Connection file",
        subtype="FILE_PATH",
        description="The server's connection file (address and keys), for a server on another machine; "
        "empty for a local server",
    )
    python: StringProperty(
        name="Python",
        subtype="FILE_PATH",
        description="Python with inpainterz installed, used to start a local server",
    )
    server_args: StringProperty(
        name="Server arguments",
        default="",
        description="Extra arguments for a started server, e.g. --device cuda",
    )
    send_frames: BoolProperty(
        name="Send frames",
        default=False,
        description="Always send the strip's frames to the server and bring the results back, even when "
        "the server could read the media itself (it does so anyway when it cannot)",
    )
    dilate: IntProperty(
        name="Hole margin",
        default=2,
        min=0,
        max=256,
        subtype="PIXEL",
        description="Pixels painted out past the object's soft edge, which the server grows each frame's mask "
        "over as far as it shows (its dilate setting); the clean strip shows the inpainted frames only there",
    )

    def draw(self, context):
        for name in ("address", "connection_file", "python", "server_args", "send_frames", "dilate"):
            self.layout.prop(self, name)


def preferences(context=None):
    return (context or bpy.context).preferences.addons[__package__].preferences


classes = (
    InpainterzPoint,
    InpainterzBox,
    InpainterzObject,
    InpainterzFound,
    InpainterzMarker,
    InpainterzStrip,
    InpainterzPreferences,
)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    compat.strip_type().inpainterz = PointerProperty(type=InpainterzStrip)


def unregister():
    del compat.strip_type().inpainterz
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
