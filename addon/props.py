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


class InpainterzStrip(bpy.types.PropertyGroup):
    """Registered on every strip as `strip.inpainterz`."""

    objects: CollectionProperty(type=InpainterzObject)
    active_object: IntProperty(description="Index of the object new clicks go to")


class InpainterzPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    address: StringProperty(name="Server", default=protocol.DEFAULT_ADDRESS,
                            description="ZeroMQ address of the Inpainterz server")
    python: StringProperty(name="Python", subtype="FILE_PATH",
                           description="Python with inpainterz installed, used to start a local server")
    server_args: StringProperty(name="Server arguments", default="",
                                description="Extra arguments for a started server, e.g. --allow-root /media")
    grow: IntProperty(name="Matte growth", default=16, min=0, max=256, subtype="PIXEL",
                      description="How far the clean strip's matte reaches beyond the mask: at least the "
                      "band the inpainter paints around the object")

    def draw(self, context):
        for name in ("address", "python", "server_args", "grow"):
            self.layout.prop(self, name)


def preferences(context=None):
    return (context or bpy.context).preferences.addons[__package__].preferences


classes = (InpainterzPoint, InpainterzBox, InpainterzObject, InpainterzStrip, InpainterzPreferences)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    compat.strip_type().inpainterz = PointerProperty(type=InpainterzStrip)


def unregister():
    del compat.strip_type().inpainterz
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
