"""Operators: connect or start a server, prompt on the active strip, run jobs, use the results.

The click tool is modal in the preview, but every prompt it makes goes through an operator
with an `execute()` path taking preview (view) coordinates, or image pixels for scripts, because
in background mode Blender only ever calls `execute()`; the tests drive the add-on through those.
"""

import shlex

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import compat, connection, geometry, strips
from .props import preferences

DRAG_PIXELS = 6  # a press that moves further than this draws a box


def active_source(context):
    """The active strip when it is a movie or image sequence, else None."""
    scene = compat.sequencer_scene(context)
    editor = scene.sequence_editor if scene is not None else None
    strip = editor.active_strip if editor is not None else None
    return strip if strip is not None and strip.type in {"MOVIE", "IMAGE"} else None


def connect(context):
    prefs = preferences(context)
    return connection.get(prefs.address, prefs.connection_file)


class SourceOperator:
    """Operators that act on the active movie or image strip."""

    @classmethod
    def poll(cls, context):
        return active_source(context) is not None

    def tracked_mask(self, context):
        """(scene, active source strip, its mask strip); reports and gives no mask if it has not been tracked."""
        scene = compat.sequencer_scene(context)
        source = active_source(context)
        mask = strips.find_result(scene, source, strips.MASK)
        if mask is None:
            self.report({"ERROR"}, f"{source.name} has no mask yet: track it first")
        return scene, source, mask


class INPAINTERZ_OT_report(bpy.types.Operator):
    """Show a message from the server as a Blender report"""

    bl_idname = "inpainterz.report"
    bl_label = "Inpainterz Report"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[(k, k, "") for k in ("INFO", "WARNING", "ERROR")])
    message: StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


class INPAINTERZ_OT_start_server(bpy.types.Operator):
    """Start a local Inpainterz server with the Python set in the add-on's preferences"""

    bl_idname = "inpainterz.start_server"
    bl_label = "Start Local Server"

    def execute(self, context):
        prefs = preferences(context)
        if not prefs.python:
            self.report({"ERROR"}, "Set the Python that has inpainterz installed in the add-on's preferences")
            return {"CANCELLED"}
        connect(context).start_local_server(bpy.path.abspath(prefs.python), shlex.split(prefs.server_args))
        wake_timer()
        return {"FINISHED"}


class INPAINTERZ_OT_stop_server(bpy.types.Operator):
    """Stop the local server this add-on started (its jobs are cancelled)"""

    bl_idname = "inpainterz.stop_server"
    bl_label = "Stop Server"

    @classmethod
    def poll(cls, context):
        return connection.own_server() is not None

    def execute(self, context):
        connection.stop_own_server()
        conn = connection.current()
        if conn is not None:
            conn.hello = None
        return {"FINISHED"}


def _source_frame(operator, context, source):
    frame = geometry.source_frame(source, compat.sequencer_scene(context).frame_current)
    if frame is None:
        operator.report({"ERROR"}, f"{source.name} is not visible at the current frame")
    return frame


def _active_object(source):
    """The object new prompts go to, made when the strip has none."""
    prompts = source.inpainterz
    if not prompts.objects:
        item = prompts.objects.add()
        item.object_id = 1
        prompts.active_object = 0
    return prompts.objects[min(prompts.active_object, len(prompts.objects) - 1)]


class INPAINTERZ_OT_add_point(SourceOperator, bpy.types.Operator):
    """Add a click on the active object on the current frame"""

    bl_idname = "inpainterz.add_point"
    bl_label = "Add Point"
    bl_options = {"REGISTER", "UNDO"}

    view_x: FloatProperty(
        name="View X", description="Preview position: render pixels right of the canvas centre"
    )
    view_y: FloatProperty(
        name="View Y", description="Preview position: render pixels above the canvas centre"
    )
    image_x: FloatProperty(
        name="Image X",
        description="Or the position in the strip's source image: pixels "
        "from its left edge (used instead of the view position when set)",
    )
    image_y: FloatProperty(
        name="Image Y", description="Pixels from the source image's top edge (with Image X)"
    )
    negative: BoolProperty(name="Background", description="Mark background instead of the object")

    def execute(self, context):
        source = active_source(context)
        frame = _source_frame(self, context, source)
        if frame is None:
            return {"CANCELLED"}
        position = _position(self, context, source, "image_x", "image_y", "view_x", "view_y")
        if position is None:
            self.report({"ERROR"}, f"The click misses {source.name}")
            return {"CANCELLED"}
        item = _active_object(source)
        point = item.points.add()
        point.frame, (point.x, point.y), point.positive = frame, position, not self.negative
        connect(context).segment(source, item, frame)
        wake_timer()
        return {"FINISHED"}


class INPAINTERZ_OT_add_box(SourceOperator, bpy.types.Operator):
    """Set the active object's box on the current frame from two corners"""

    bl_idname = "inpainterz.add_box"
    bl_label = "Add Box"
    bl_options = {"REGISTER", "UNDO"}

    view_x0: FloatProperty(
        name="View X0", description="First corner in the preview: render pixels right of the canvas centre"
    )
    view_y0: FloatProperty(name="View Y0", description="First corner: render pixels above the canvas centre")
    view_x1: FloatProperty(
        name="View X1", description="Opposite corner: render pixels right of the canvas centre"
    )
    view_y1: FloatProperty(
        name="View Y1", description="Opposite corner: render pixels above the canvas centre"
    )
    image_x0: FloatProperty(
        name="Image X0",
        description="Or the first corner in the strip's source image: "
        "pixels from its left edge (used instead of the view corners when set)",
    )
    image_y0: FloatProperty(
        name="Image Y0", description="First corner: pixels from the source image's top edge"
    )
    image_x1: FloatProperty(
        name="Image X1", description="Opposite corner: pixels from the source image's left edge"
    )
    image_y1: FloatProperty(
        name="Image Y1", description="Opposite corner: pixels from the source image's top edge"
    )

    def execute(self, context):
        source = active_source(context)
        frame = _source_frame(self, context, source)
        if frame is None:
            return {"CANCELLED"}
        corners = [
            _position(self, context, source, f"image_x{i}", f"image_y{i}", f"view_x{i}", f"view_y{i}")
            for i in (0, 1)
        ]
        if None in corners:
            self.report({"ERROR"}, f"The box must start and end on {source.name}")
            return {"CANCELLED"}
        item = _active_object(source)
        for index in reversed(range(len(item.boxes))):
            if item.boxes[index].frame == frame:
                item.boxes.remove(index)
        (xa, ya), (xb, yb) = corners
        box = item.boxes.add()
        box.frame, box.x0, box.y0, box.x1, box.y1 = frame, min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)
        connect(context).segment(source, item, frame)
        wake_timer()
        return {"FINISHED"}


def _position(operator, context, source, image_x, image_y, view_x, view_y):
    """A source pixel position from the operator's image coordinates when set, else from its
    preview coordinates; None when it misses the strip's image."""
    props = operator.properties
    if props.is_property_set(image_x) or props.is_property_set(image_y):
        x, y = getattr(operator, image_x), getattr(operator, image_y)
        w, h = geometry.source_size(source)
        return (x, y) if 0 <= x <= w and 0 <= y <= h else None
    scene = compat.sequencer_scene(context)
    return geometry.view_to_source(source, scene, getattr(operator, view_x), getattr(operator, view_y))


class INPAINTERZ_OT_prompt(SourceOperator, bpy.types.Operator):
    """Click the object in the preview (Ctrl or Shift: background), drag for a box; Esc or right-click ends"""

    bl_idname = "inpainterz.prompt"
    bl_label = "Click Object"

    def invoke(self, context, event):
        if context.area is None or context.area.type != "SEQUENCE_EDITOR" or context.region.type != "PREVIEW":
            self.report({"ERROR"}, "Use the click tool in the sequencer preview")
            return {"CANCELLED"}
        self._press = None
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set(
            "Click: object   Ctrl/Shift-click: background   Drag: box   Esc: done"
        )
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type in {"ESC", "RIGHTMOUSE"}:
            context.workspace.status_text_set(None)
            return {"FINISHED"}
        if event.type != "LEFTMOUSE":
            return {"PASS_THROUGH"}
        if event.value == "PRESS":
            self._press = (event.mouse_region_x, event.mouse_region_y)
            return {"RUNNING_MODAL"}
        if event.value == "RELEASE" and self._press is not None:
            view2d = context.region.view2d
            x0, y0 = view2d.region_to_view(*self._press)
            x1, y1 = view2d.region_to_view(event.mouse_region_x, event.mouse_region_y)
            dragged = max(
                abs(event.mouse_region_x - self._press[0]), abs(event.mouse_region_y - self._press[1])
            )
            self._press = None
            if dragged > DRAG_PIXELS:
                bpy.ops.inpainterz.add_box(view_x0=x0, view_y0=y0, view_x1=x1, view_y1=y1)
            else:
                bpy.ops.inpainterz.add_point(view_x=x1, view_y=y1, negative=event.ctrl or event.shift)
            return {"RUNNING_MODAL"}
        return {"PASS_THROUGH"}


class INPAINTERZ_OT_undo_point(SourceOperator, bpy.types.Operator):
    """Remove the active object's last click on the current frame"""

    bl_idname = "inpainterz.undo_point"
    bl_label = "Undo Point"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        source = active_source(context)
        frame = _source_frame(self, context, source)
        if frame is None or not source.inpainterz.objects:
            return {"CANCELLED"}
        item = _active_object(source)
        indices = [i for i, p in enumerate(item.points) if p.frame == frame]
        if not indices:
            return {"CANCELLED"}
        item.points.remove(indices[-1])
        connect(context).segment(source, item, frame)
        wake_timer()
        return {"FINISHED"}


class INPAINTERZ_OT_add_object(SourceOperator, bpy.types.Operator):
    """Start another object: new clicks go to it"""

    bl_idname = "inpainterz.add_object"
    bl_label = "Add Object"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        prompts = active_source(context).inpainterz
        used = {item.object_id for item in prompts.objects}
        item = prompts.objects.add()
        item.object_id = min(set(range(1, 256)) - used)
        prompts.active_object = len(prompts.objects) - 1
        return {"FINISHED"}


class INPAINTERZ_OT_select_object(SourceOperator, bpy.types.Operator):
    """Send new clicks to this object"""

    bl_idname = "inpainterz.select_object"
    bl_label = "Select Object"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(min=0)

    def execute(self, context):
        prompts = active_source(context).inpainterz
        prompts.active_object = min(self.index, max(0, len(prompts.objects) - 1))
        return {"FINISHED"}


class INPAINTERZ_OT_clear(SourceOperator, bpy.types.Operator):
    """Remove the active object and its prompts (all objects with Shift)"""

    bl_idname = "inpainterz.clear"
    bl_label = "Clear"
    bl_options = {"REGISTER", "UNDO"}

    all_objects: BoolProperty(name="All Objects")

    def invoke(self, context, event):
        self.all_objects = event.shift
        return self.execute(context)

    def execute(self, context):
        source = active_source(context)
        prompts = source.inpainterz
        indices = range(len(prompts.objects)) if self.all_objects else [prompts.active_object]
        for index in sorted((i for i in indices if i < len(prompts.objects)), reverse=True):
            connect(context).forget_object(source, prompts.objects[index].object_id)
            prompts.objects.remove(index)
        prompts.active_object = max(0, min(prompts.active_object, len(prompts.objects) - 1))
        return {"FINISHED"}


class INPAINTERZ_OT_find(SourceOperator, bpy.types.Operator):
    """Find what the Find field names on the current frame: the boxes found show over the preview,
    to keep or drop before Add Found makes them objects"""

    bl_idname = "inpainterz.find"
    bl_label = "Find"

    def execute(self, context):
        source = active_source(context)
        prompts = source.inpainterz
        text = prompts.find_text.strip()
        if not text:
            self.report({"ERROR"}, 'Type what to remove in the Find field, e.g. "person. dog"')
            return {"CANCELLED"}
        frame = _source_frame(self, context, source)
        if frame is None:
            return {"CANCELLED"}
        connect(context).find(source, frame, text, prompts.find_threshold)
        wake_timer()
        return {"FINISHED"}


class INPAINTERZ_OT_add_found(SourceOperator, bpy.types.Operator):
    """Make each kept box an object to remove, segmented from its box as if it had been drawn"""

    bl_idname = "inpainterz.add_found"
    bl_label = "Add Found"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        source = active_source(context)
        prompts = source.inpainterz
        kept = [found for found in prompts.found if found.keep]
        if not kept:
            self.report({"ERROR"}, "No found box is ticked: Find first, or tick the boxes to keep")
            return {"CANCELLED"}
        free = sorted(set(range(1, 256)) - {item.object_id for item in prompts.objects})
        if len(kept) > len(free):
            self.report(
                {"ERROR"}, f"A strip holds at most 255 objects: untick {len(kept) - len(free)} box(es)"
            )
            return {"CANCELLED"}
        conn = connect(context)
        for found, object_id in zip(kept, free[: len(kept)], strict=True):
            item = prompts.objects.add()
            item.object_id = object_id
            box = item.boxes.add()
            box.frame, box.x0, box.y0, box.x1, box.y1 = found.frame, found.x0, found.y0, found.x1, found.y1
            conn.segment(source, item, found.frame)
        prompts.active_object = len(prompts.objects) - 1
        prompts.dropped.clear()  # remembered so that Look Again does not bring them back as new objects
        for found in prompts.found:
            if not found.keep:
                item = prompts.dropped.add()
                item.frame, item.phrase, item.score = found.frame, found.phrase, found.score
                item.x0, item.y0, item.x1, item.y1 = found.x0, found.y0, found.x1, found.y1
        prompts.found.clear()
        wake_timer()
        return {"FINISHED"}


class INPAINTERZ_OT_clear_found(SourceOperator, bpy.types.Operator):
    """Drop every box Find found"""

    bl_idname = "inpainterz.clear_found"
    bl_label = "Drop Found"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        active_source(context).inpainterz.found.clear()
        return {"FINISHED"}


def run_job(operator, context, kind):
    """Start a track or inpaint job on the active strip; the results come back as strips."""
    source = active_source(context)
    conn = connect(context)
    if conn.jobs:
        operator.report({"ERROR"}, "A job is already running: wait for it or cancel it")
        return {"CANCELLED"}
    if kind == "track" and not any(item.points or item.boxes for item in source.inpainterz.objects):
        operator.report({"ERROR"}, f"Click the object to remove on {source.name} first")
        return {"CANCELLED"}
    if len(getattr(source, "retiming_keys", ())) > 0:
        operator.report({"ERROR"}, f"{source.name} is retimed; Inpainterz needs one source frame per frame")
        return {"CANCELLED"}
    conn.run_job(kind, compat.sequencer_scene(context), source, dilate=preferences(context).dilate)
    wake_timer()
    return {"FINISHED"}


class INPAINTERZ_OT_track(SourceOperator, bpy.types.Operator):
    """Track the clicked objects through the active strip's visible frames (as the panel shows them:
    clicks still being segmented are included)"""

    bl_idname = "inpainterz.track"
    bl_label = "Track"

    def execute(self, context):
        return run_job(self, context, "track")


class INPAINTERZ_OT_inpaint(SourceOperator, bpy.types.Operator):
    """Paint the tracked objects out of the active strip's visible frames"""

    bl_idname = "inpainterz.inpaint"
    bl_label = "Inpaint"

    def execute(self, context):
        return run_job(self, context, "inpaint")


class INPAINTERZ_OT_run(SourceOperator, bpy.types.Operator):
    """Track or inpaint the active strip (for scripts; the panel has Track and Inpaint)"""

    bl_idname = "inpainterz.run"
    bl_label = "Run Inpainterz Job"
    bl_options = {"INTERNAL"}

    kind: EnumProperty(
        name="Kind",
        description="Which job to run",
        items=[
            ("track", "Track", "Follow the objects through the strip's frames"),
            ("inpaint", "Inpaint", "Paint the tracked objects out"),
        ],
    )

    def execute(self, context):
        return run_job(self, context, self.kind)


class INPAINTERZ_OT_cancel(bpy.types.Operator):
    """Cancel the running job"""

    bl_idname = "inpainterz.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        conn = connection.current()
        return conn is not None and bool(conn.jobs)

    def execute(self, context):
        connection.current().cancel_jobs()
        return {"FINISHED"}


class INPAINTERZ_OT_apply_mask(SourceOperator, bpy.types.Operator):
    """Add a Mask modifier using the active strip's mask to the other selected strips"""

    bl_idname = "inpainterz.apply_mask"
    bl_label = "Mask Selected Strips"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene, source, mask = self.tracked_mask(context)
        if mask is None:
            return {"CANCELLED"}
        targets = [
            s
            for s in compat.strips_all(scene.sequence_editor)
            if s.select and s != source and s.get("inpainterz_source") != source.name
        ]
        if not targets:
            self.report({"ERROR"}, "Select the strips to mask as well as the masked strip")
            return {"CANCELLED"}
        for target in targets:
            strips.apply_mask_modifier(scene, target, mask)
        return {"FINISHED"}


class INPAINTERZ_OT_mask_to_compositor(SourceOperator, bpy.types.Operator):
    """Add the active strip's mask sequence to the compositor as an Image node and a matte"""

    bl_idname = "inpainterz.mask_to_compositor"
    bl_label = "Mask to Compositor"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene, source, mask = self.tracked_mask(context)
        if mask is None:
            return {"CANCELLED"}
        strips.compositor_mask_node(scene, source, mask)
        return {"FINISHED"}


def _timer():
    return connect(bpy.context).poll()


def wake_timer():
    """Run the poll step now: a request was just sent, and the timer may be in a long idle wait."""
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    bpy.app.timers.register(_timer, first_interval=0.0, persistent=True)


classes = (
    INPAINTERZ_OT_report,
    INPAINTERZ_OT_start_server,
    INPAINTERZ_OT_stop_server,
    INPAINTERZ_OT_add_point,
    INPAINTERZ_OT_add_box,
    INPAINTERZ_OT_prompt,
    INPAINTERZ_OT_undo_point,
    INPAINTERZ_OT_add_object,
    INPAINTERZ_OT_select_object,
    INPAINTERZ_OT_clear,
    INPAINTERZ_OT_find,
    INPAINTERZ_OT_add_found,
    INPAINTERZ_OT_clear_found,
    INPAINTERZ_OT_track,
    INPAINTERZ_OT_inpaint,
    INPAINTERZ_OT_run,
    INPAINTERZ_OT_cancel,
    INPAINTERZ_OT_apply_mask,
    INPAINTERZ_OT_mask_to_compositor,
)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    wake_timer()


def unregister():
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)  # 4.2 crashes at exit with a timer still registered
    connection.close()
    connection.stop_own_server()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
