"""Inpainterz for Blender's Video Sequence Editor: click an object in a strip, track it, paint it out.

The heavy work runs in the separate Inpainterz server (see README.md); this add-on sends the
strip's media path (or its frames, to a server that cannot read it) and the prompts, and brings
masks and clean frames back as strips.
Module map: compat (4.2 vs 5.0), geometry (preview <-> source pixels and frames), props (stored
prompts, preferences), connection (client and poll step), frames (source frames out, mattes),
operators, panels, overlay, strips.
"""

from . import operators, overlay, panels, props

_modules = (props, operators, panels, overlay)


def register():
    for module in _modules:
        module.register()


def unregister():
    for module in reversed(_modules):
        module.unregister()
