"""Op handlers for the server itself and for one opened video: hello, open_video, upload_frames, frame,
add_object, remove_object, segment, close_video, shutdown.

Each handler takes the shared ``State``, the ``Request`` and its validated body and
returns the reply body; ProtocolError and InpainterzError become error replies.
"""

from __future__ import annotations

import secrets

import cv2
import numpy as np

from inpainterz_core import __version__
from inpainterz_core.errors import InputError
from inpainterz_core.masks import rle_encode
from inpainterz_core.prompts import ObjectPrompt, Point
from inpainterz_core.segment.motion import offer_neighbours
from inpainterz_core.segment.shadow import with_shadow
from inpainterz_core.video import frame_name

from . import protocol
from .protocol import ProtocolError
from .security import png_size
from .sessions import Session, Upload
from .state import Request, State

MAX_UPLOAD_BYTES = 8 * 1024**3  # all frames of one uploaded video


def hello(state: State, request: Request, body: dict) -> dict:
    return {
        "protocol": protocol.VERSION,
        "server_version": __version__,
        "backends": state.backends["stages"],
        "device": state.backends["device"],
        "weights": state.backends["weights"],
        "auth": state.signed,
        # A signed client's channel for this run: the one it came on, or a new one.
        "channel": (request.channel or state.issue_channel()) if state.signed else None,
        "allowed_roots": [str(r) for r in state.roots.roots],
        "limits": {
            "max_message_bytes": protocol.MAX_MESSAGE_BYTES,
            "max_frame_bytes": protocol.MAX_FRAME_BYTES,
            "max_side": protocol.MAX_SIDE,
            "max_frames": protocol.MAX_FRAMES,
            "max_upload_frames": protocol.MAX_UPLOAD_FRAMES,
            "max_upload_bytes": MAX_UPLOAD_BYTES,
            "max_sessions": protocol.MAX_SESSIONS,
            "max_queued_jobs": protocol.MAX_QUEUED_JOBS,
            "max_unread": protocol.MAX_UNREAD,
        },
    }


def open_video(state: State, request: Request, body: dict) -> dict:
    """Runs on the open pool: probing a video reads its whole index."""
    if (body["path"] is None) == (body["upload"] is None):
        raise ProtocolError("bad_request", "open_video needs exactly one of path or upload")
    settings = body["settings"] or {}
    state.settings(settings)  # refuse bad settings now, not at the first click
    if len(state.sessions) >= protocol.MAX_SESSIONS:
        raise ProtocolError("busy", f"{protocol.MAX_SESSIONS} videos are open: close_video one first")
    session_id = "s" + secrets.token_hex(8)
    if body["path"] is not None:
        path = state.roots.confine(body["path"])
        source = state.open(path)
        folder = state.work.session_folder(session_id)
        session = Session(session_id, path, folder, settings, source=source, fps=source.fps)
    else:
        folder = state.work.session_folder(session_id)
        (folder / "uploads").mkdir()
        session = Session(
            session_id,
            folder / "uploads",
            folder,
            settings,
            upload=Upload(**body["upload"]),
            fps=body["upload"]["fps"],
        )
    with state.lock:
        full = len(state.sessions) >= protocol.MAX_SESSIONS
        if not full:
            state.sessions[session_id] = session
    if full:
        state.close_session(session)
        raise ProtocolError("busy", f"{protocol.MAX_SESSIONS} videos are open: close_video one first")
    if session.source is not None:
        session.worker.submit(embed, state, session, 0)
    state.log.info(f"session {session_id}: opened {session.path}", key="opened")
    return session.describe()


def upload_frames(state: State, request: Request, body: dict) -> dict:
    session = state.session(body["session"])
    upload = session.upload
    if upload is None or session.source is not None:
        raise ProtocolError("not_ready", f"session {session.id} is not waiting for uploaded frames")
    start, frames = body["start"], body["frames"]
    if start != upload.received:
        raise ProtocolError(
            "bad_request",
            f"upload_frames: start must be {upload.received}, the number of frames received so far",
        )
    if start + len(frames) > upload.frame_count:
        raise ProtocolError("too_large", f"more frames than the {upload.frame_count} announced")
    for i, png in enumerate(frames, start):
        if png_size(png) != (upload.width, upload.height):
            raise ProtocolError("bad_input", f"uploaded frame {i} is not {upload.width}x{upload.height}")
        if cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) is None:
            raise ProtocolError("bad_input", f"uploaded frame {i} is not a readable PNG")
        upload.bytes += len(png)
        if upload.bytes > MAX_UPLOAD_BYTES:
            raise ProtocolError("too_large", f"the upload is over {MAX_UPLOAD_BYTES >> 30} GiB")
        (session.path / frame_name(i)).write_bytes(png)
        upload.received = i + 1
    if upload.received == upload.frame_count:
        session.source = state.open(session.path)
        session.worker.submit(embed, state, session, 0)
        state.log.info(
            f"session {session.id}: upload of {upload.frame_count} frames complete", key="uploaded"
        )
    return {"received": upload.received, "ready": session.source is not None}


def frame(state: State, request: Request, body: dict) -> dict:
    session = state.ready(body["session"])
    index, fmt = body["frame"], body["format"]
    if fmt not in ("jpeg", "png"):
        raise ProtocolError("bad_request", f"frame.format must be jpeg or png, not {fmt!r}")
    state.check_frame(session, index)
    image = session.read(index)
    h, w = image.shape[:2]
    scale = min(1.0, body["max_side"] / max(h, w))
    if scale < 1.0:
        image = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, data = cv2.imencode(
        ".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params
    )
    if not ok or data.size > protocol.MAX_FRAME_BYTES:
        raise ProtocolError("too_large", "the preview is too large: ask for a smaller max_side or jpeg")
    session.worker.submit(embed, state, session, index)  # after this reply: the click that follows is fast
    return {
        "frame": index,
        "width": image.shape[1],
        "height": image.shape[0],
        "format": fmt,
        "data": data.tobytes(),
    }


def add_object(state: State, request: Request, body: dict) -> dict:
    session = state.session(body["session"])
    with session.lock:
        free = next((i for i in range(1, 256) if i not in session.objects), None)
        if free is None:
            raise ProtocolError("too_large", "a session holds at most 255 objects")
        session.objects.add(free)
    return {"object_id": free}


def remove_object(state: State, request: Request, body: dict) -> dict:
    session = state.session(body["session"])
    object_id = body["object_id"]
    with session.lock:
        if object_id not in session.objects:
            raise ProtocolError("not_found", f"no object {object_id} in session {session.id}")
        session.objects.discard(object_id)
        for key in [k for k in session.prompts if k[0] == object_id]:
            del session.prompts[key]
        return {"object_id": object_id, "objects": sorted(session.objects)}


def make_prompt(
    session: Session, object_id: int, frame: int, points: list, box: list | None, where: str
) -> ObjectPrompt:
    """An ObjectPrompt from a request's fields, checked against the video: bad_request naming the problem."""
    try:
        prompt = ObjectPrompt(
            frame=frame,
            points=tuple(Point(p[0], p[1], p[2] if len(p) == 3 else 1) for p in points),
            box=tuple(box) if box is not None else None,
            object_id=object_id,
        )
        prompt.check_inside(session.source.width, session.source.height, session.source.frame_count)
    except InputError as e:
        raise ProtocolError("bad_request", f"{where}: {e}") from None
    return prompt


def segment(state: State, request: Request, body: dict) -> dict:
    session = state.ready(body["session"])
    object_id, index = body["object_id"], body["frame"]
    if object_id not in session.objects:
        raise ProtocolError("not_found", f"no object {object_id} in session {session.id}: add_object first")
    state.check_frame(session, index)
    prompt = make_prompt(session, object_id, index, body["points"], body["box"], "segment")
    segmenter = state.segmenters.get(state.settings(session.settings), session.id)
    image = session.read(index)
    segmenter.set_image(index, image)  # free when the embedding is cached
    offer_neighbours(segmenter, index, session.source, index)
    mask = with_shadow(image, segmenter.predict(index, prompt), prompt.box)  # as track will paint it out
    with session.lock:
        if object_id in session.objects:  # not removed while we were segmenting
            session.prompts[(object_id, index)] = prompt
    return {"object_id": object_id, "frame": index, "mask": rle_encode(mask), "area": int(mask.sum())}


def embed(state: State, session: Session, index: int) -> None:
    """Compute a frame's embedding ahead of the clicks (on the session's worker)."""
    if session.closed:
        return
    try:
        segmenter = state.segmenters.get(state.settings(session.settings), session.id)
        segmenter.set_image(index, session.read(index))
        offer_neighbours(segmenter, index, session.source, index)
    except Exception as e:  # the click that follows reports the problem to the user
        state.log.warning(f"could not precompute the embedding of frame {index}: {e}", key="embed")


def close_video(state: State, request: Request, body: dict) -> dict:
    with state.lock:
        session = state.session(body["session"])
        del state.sessions[session.id]
    state.close_session(session)
    state.log.info(f"session {session.id}: closed", key="closed")
    return {}


def shutdown(state: State, request: Request, body: dict) -> dict:
    state.log.info("shutdown requested by a client", key="shutdown")
    state.stop()
    return {}
