"""Everything that differs between Blender 4.2 LTS and 5.0, in one place.

The rest of the add-on calls these helpers and never touches the renamed API directly:
4.2 calls strips "sequences" and has `scene.node_tree`; 5.0 has `strips`, a sequencer scene
per workspace and compositor node groups. Strip kinds are compared by `strip.type`
('MOVIE', 'IMAGE'), never by class, because the class names differ too.
"""

import bpy

IS_5 = bpy.app.version >= (5, 0, 0)


def strips(sequence_editor):
    """Top-level strips: `strips` (4.4+) or `sequences` (4.2, removed in 5.0)."""
    if hasattr(sequence_editor, "strips"):
        return sequence_editor.strips
    return sequence_editor.sequences


def strips_all(sequence_editor):
    """All strips, including those inside meta strips."""
    if hasattr(sequence_editor, "strips_all"):
        return sequence_editor.strips_all
    return sequence_editor.sequences_all


def strip_type():
    """The strip base class, for registering properties on every strip: `Strip` or `Sequence`."""
    return getattr(bpy.types, "Strip", None) or bpy.types.Sequence


def sequencer_scene(context):
    """The scene the sequencer edits: 5.0 has one per workspace, 4.2 always uses the window's scene."""
    return getattr(context, "sequencer_scene", None) or context.scene


def ensure_sequencer_scene(scene):
    """5.0 segfaults in `strip.modifiers.new()` while the workspace has no sequencer scene
    (the default in the bpy module); 4.2 has no such setting."""
    workspace = bpy.context.workspace
    if workspace is not None and hasattr(workspace, "sequencer_scene") and workspace.sequencer_scene is None:
        workspace.sequencer_scene = scene


def compositor_tree(scene):
    """The scene's compositor node tree, created if missing: `scene.node_tree` in 4.2,
    a `CompositorNodeTree` node group assigned to the scene in 5.0."""
    if hasattr(scene, "compositing_node_group"):
        if scene.compositing_node_group is None:
            scene.compositing_node_group = bpy.data.node_groups.new(scene.name, "CompositorNodeTree")
        return scene.compositing_node_group
    scene.use_nodes = True
    return scene.node_tree


def new_math_node(tree):
    """A compositor Math node: `CompositorNodeMath` in 4.2, the shared `ShaderNodeMath` in 5.0."""
    return tree.nodes.new("ShaderNodeMath" if IS_5 else "CompositorNodeMath")
