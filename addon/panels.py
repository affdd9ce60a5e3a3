"""The sidebar panel in the sequencer (N panel, tab "Inpainterz")."""

import bpy

from . import compat, connection, operators, overlay, strips
from .props import preferences


class INPAINTERZ_PT_main(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Inpainterz"
    bl_label = "Inpainterz"

    def draw(self, context):
        layout = self.layout
        prefs = preferences(context)
        conn = connection.current()
        self.draw_server(layout, prefs, conn)
        source = operators.active_source(context)
        if source is None:
            layout.label(text="Select a movie or image strip", icon="INFO")
            return
        self.draw_find(layout, source, conn)
        self.draw_prompts(layout, source, conn)
        self.draw_jobs(layout, conn)
        self.draw_results(layout, context, source)

    @staticmethod
    def draw_server(layout, prefs, conn):
        box = layout.box()
        box.prop(prefs, "address", text="")
        hello = conn.hello if conn is not None else None
        if hello is not None:
            stages = (hello.get("backends") or {}).get("stages", {})
            backends = ", ".join(f"{stage}: {'/'.join(names) or 'none'}" for stage, names in stages.items())
            weights = [name for name, present in (hello.get("weights") or {}).items() if present]
            box.label(
                text=f"Connected: server {hello.get('server_version')} on {hello.get('device')}",
                icon="CHECKMARK",
            )
            box.label(text=f"Backends: {backends or 'none'}")
            box.label(text=f"Weights: {', '.join(weights) or 'none (classical backends only)'}")
        elif conn is not None and conn.starting:
            box.label(text="Starting a local server...", icon="TIME")
        else:
            box.label(text="No server answers", icon="ERROR")
            box.operator("inpainterz.start_server", icon="PLAY")
        if connection.own_server() is not None:
            box.operator("inpainterz.stop_server", icon="SNAP_FACE")
        if conn is not None and conn.error:
            box.label(text=conn.error, icon="CANCEL")

    @staticmethod
    def draw_find(layout, source, conn):
        """The Find field and, once found, one checkbox per box: ticked boxes become objects."""
        prompts = source.inpainterz
        box = layout.box()
        row = box.row(align=True)
        row.prop(prompts, "find_text", text="", icon="VIEWZOOM")
        row.operator("inpainterz.find", text="Find")
        row = box.row(align=True)
        row.prop(prompts, "find_threshold", slider=True)
        row.prop(prompts, "find_every")
        stages = ((conn.hello or {}).get("backends") or {}).get("stages", {}) if conn is not None else {}
        if stages.get("detect") == []:  # a server that can detect, without the weights to
            box.label(text="No detector weights on the server: Find says what to fetch", icon="ERROR")
        if conn is not None and conn.finding(source.name):
            box.label(text="Finding...", icon="TIME")
        if not len(prompts.found):
            return
        col = box.column(align=True)
        for found in prompts.found:
            col.prop(found, "keep", text=overlay.found_label(found))
        row = box.row(align=True)
        row.operator("inpainterz.add_found", icon="ADD")
        row.operator("inpainterz.clear_found", icon="X")

    @staticmethod
    def draw_prompts(layout, source, conn):
        prompts = source.inpainterz
        col = layout.column(align=True)
        col.operator("inpainterz.prompt", icon="RESTRICT_SELECT_OFF")
        for index, item in enumerate(prompts.objects):
            row = col.row(align=True)
            active = index == prompts.active_object
            mask = conn.masks.get((source.name, item.object_id)) if conn is not None else None
            if conn is not None and conn.segmenting(source.name, item.object_id):
                state = ", segmenting..."
            else:
                state = "" if mask else ", no mask yet"
            text = (
                f"Object {item.object_id}: {len(item.points)} clicks"
                + (", box" if len(item.boxes) else "")
                + state
            )
            row.operator(
                "inpainterz.select_object",
                text=text,
                depress=active,
                icon="RADIOBUT_ON" if active else "RADIOBUT_OFF",
            ).index = index
        row = col.row(align=True)
        row.operator("inpainterz.undo_point", icon="LOOP_BACK")
        row.operator("inpainterz.add_object", icon="ADD")
        row.operator("inpainterz.clear", icon="X")

    @staticmethod
    def draw_jobs(layout, conn):
        row = layout.row(align=True)
        row.operator("inpainterz.track", icon="TRACKING")
        row.operator("inpainterz.inpaint", icon="BRUSH_DATA")
        if conn is not None and conn.jobs:
            job = conn.jobs[0]
            if job.future is None and conn.segmenting(job.strip_name):
                layout.label(
                    text=f"{job.kind.capitalize()} starts once the masks shown are current", icon="TIME"
                )
            stage, done, total = conn.progress or ("starting", 0, 0)
            row = layout.row(align=True)
            row.progress(factor=done / total if total else 0.0, text=f"{stage} {done}/{total}")
            row.operator("inpainterz.cancel", text="", icon="CANCEL")

    @staticmethod
    def draw_results(layout, context, source):
        scene = compat.sequencer_scene(context)
        if strips.find_result(scene, source, strips.MASK) is None:
            return
        col = layout.column(align=True)
        doubted = source.inpainterz.frames_to_check
        if doubted:
            row = col.row(align=True)
            row.label(text=f"{doubted} frame(s) to check (markers)", icon="ERROR")
            row.operator("screen.marker_jump", text="", icon="PREV_KEYFRAME").next = False
            row.operator("screen.marker_jump", text="", icon="NEXT_KEYFRAME").next = True
        col.operator("inpainterz.apply_mask", icon="MOD_MASK")
        col.operator("inpainterz.mask_to_compositor", icon="NODE_COMPOSITING")


classes = (INPAINTERZ_PT_main,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
