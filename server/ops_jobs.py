"""Op handlers for jobs and their results: track, inpaint, cancel, job_status, results, result_frames.

``track`` and ``inpaint`` check everything on arrival (settings, range, output folder)
and reply with the job id; the work, segmenter building included, runs on the job's
thread and calls the pipeline's own functions, so the server writes exactly what
``inpainterz remove`` writes for the same prompts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inpainterz_core.pipeline import inpaint as run_inpaint
from inpainterz_core.pipeline import segment_keyframes
from inpainterz_core.pipeline import track as run_track
from inpainterz_core.prompts import Prompts
from inpainterz_core.video import frame_name

from . import protocol
from .jobs import Job
from .ops_detect import make_text
from .ops_video import make_prompt
from .protocol import ProtocolError
from .sessions import Session
from .state import Request, State

#: result_frames kinds: the finished job that writes them, its folder key and its range key in ``results``
RESULT_KINDS = {
    "masks": ("track", "masks", "mask_range"),
    "inpainted": ("inpaint", "inpainted", "inpaint_range"),
}


def track(state: State, request: Request, body: dict) -> None:
    session = state.ready(body["session"])
    if body["objects"] is not None:  # exactly the prompts the client shows (it owns ids and prompts)
        prompts = Prompts(
            tuple(
                make_prompt(session, o["object_id"], o["frame"], o["points"], o["box"], f"track.objects[{i}]")
                for i, o in enumerate(body["objects"])
            )
        )
    else:
        with session.lock:
            prompts = Prompts(tuple(session.prompts[k] for k in sorted(session.prompts)))
    if not prompts.objects:
        raise ProtocolError("not_ready", "no object has been clicked yet: segment one first")
    text, keep = None, []
    if body["text"] is not None:
        fields = {k: v for k, v in body["text"].items() if k != "keep"}
        text = make_text(state, session, fields, "track.text")
        keep = [
            make_prompt(session, 1, text.frame, [], box, f"track.text.keep[{i}]")
            for i, box in enumerate(body["text"]["keep"])
        ]
        if keep and text.frame not in prompts.keyframes():
            raise ProtocolError(
                "bad_request",
                f"track.text.keep: no object on frame {text.frame} (the text frame) to track the kept boxes with",
            )
    settings = state.settings(session.settings, body["settings"])
    frame_range = state.frame_range(session, body["start"], body["stop"])
    out_dir = state.out_dir(session, body["out_dir"])

    def work(job: Job, progress) -> dict:
        segmenter = state.segmenters.get(settings, session.id)  # may load a model: here, not on the socket
        detector = None if text is None else state.detectors.get(settings)
        with state.job_source(session) as source:
            keyframes = segment_keyframes(source, prompts, segmenter)
            kept = _kept_labels(source, text.frame, keep, segmenter) if keep else None
            report = run_track(
                source,
                keyframes,
                settings,
                out_dir,
                frame_range=frame_range,
                progress=progress,
                cancel=job.cancel,
                text=text,
                detector=detector,
                segmenter=segmenter,
                keep=kept,
            )
        return {
            "out_dir": str(out_dir),
            "masks": str(out_dir / "masks"),
            "mask_range": list(frame_range),
            "confidence": report["confidence"],
            "check_frames": report["check_frames"],
            "objects": report["objects"],
        }

    start_job(state, request, session, "track", work, out_dir)


def _kept_labels(source, frame: int, boxes: list, segmenter) -> dict[int, np.ndarray]:
    """The segmenter's mask of each kept box, one label each (at most 255), for the core's ``keep``."""
    segmenter.set_image(frame, source.read(frame))
    labels = np.zeros((source.height, source.width), np.uint8)
    for k, prompt in enumerate(boxes, start=1):
        labels[segmenter.predict(frame, prompt)] = k
    return {frame: labels}


def inpaint(state: State, request: Request, body: dict) -> None:
    session = state.ready(body["session"])
    tracked = session.latest("track")
    if tracked is None:
        raise ProtocolError(
            "not_ready", "no finished track job in this session: track first" + session.stale_note()
        )
    settings = state.settings(session.settings, body["settings"])
    frame_range = state.frame_range(
        session, body["start"], body["stop"], default=tuple(tracked.results["mask_range"])
    )
    out_dir, masks = Path(tracked.results["out_dir"]), Path(tracked.results["masks"])

    def work(job: Job, progress) -> dict:
        with state.job_source(session) as source:
            painted = run_inpaint(
                source,
                masks,
                settings,
                out_dir,
                frame_range=frame_range,
                progress=progress,
                cancel=job.cancel,
            )
        video, report = out_dir / "result.mp4", out_dir / "report.json"
        return {
            "out_dir": str(out_dir),
            "inpainted": str(out_dir / "inpainted"),
            "inpaint_range": list(frame_range),
            "video": str(video) if settings.write_video and video.exists() else None,
            "report": str(report) if report.exists() else None,
            # per frame of the range: the radius its mask was grown by into the hole painted out (the matte)
            "hole_radius": painted["hole_radius"],
        }

    start_job(state, request, session, "inpaint", work, out_dir)


def start_job(state: State, request: Request, session: Session, kind: str, work, out_dir: Path) -> None:
    """Reply with the job id first, then start it, so its events never overtake the reply."""
    with session.lock:
        if any(j.active for j in session.jobs):
            raise ProtocolError("busy", f"session {session.id} already has a job queued or running")
        job = Job(kind, session.id, request.identity, request.id, work)
        state.jobs.add(job)
        session.jobs.append(job)
    state.post(
        request.identity, protocol.reply(request.id, request.op, {"job": job.id, "out_dir": str(out_dir)})
    )
    state.jobs.start(job)
    state.log.info(f"job {job.id}: {kind} of session {session.id} into {out_dir}", key="job-start")


def cancel(state: State, request: Request, body: dict) -> dict:
    job = state.jobs.get(body["job"])
    job.cancel.set()
    return {"job": job.id, "state": job.state}


def job_status(state: State, request: Request, body: dict) -> dict:
    return state.jobs.get(body["job"]).status()


def results(state: State, request: Request, body: dict) -> dict:
    session = state.session(body["session"])
    out = dict.fromkeys(protocol.RESULTS)  # every key the reply schema lists, nil until a job has set it
    for kind in ("track", "inpaint"):
        job = session.latest(kind)
        if job is not None:
            out.update(job.results)
    return out


def result_frames(state: State, request: Request, body: dict) -> dict:
    """The result PNG files themselves, byte for byte, for a client on another machine."""
    session = state.session(body["session"])
    if body["kind"] not in RESULT_KINDS:
        raise ProtocolError(
            "bad_request", f"result_frames.kind must be masks or inpainted, not {body['kind']!r}"
        )
    job_kind, folder_key, range_key = RESULT_KINDS[body["kind"]]
    job = session.latest(job_kind)
    if job is None:
        raise ProtocolError(
            "not_ready",
            f"no finished {job_kind} job in this session: {job_kind} first" + session.stale_note(),
        )
    folder, (first, stop) = Path(job.results[folder_key]), job.results[range_key]
    start = body["start"]
    if not first <= start < stop:
        raise ProtocolError(
            "not_found", f"frame {start} is not in the {body['kind']} of frames {first}..{stop - 1}"
        )
    frames, size = [], 0
    for i in range(start, min(stop, start + body["count"])):
        try:
            data = (folder / frame_name(i)).read_bytes()
        except FileNotFoundError:
            raise ProtocolError("not_found", f"{body['kind']} frame {i} is gone from {folder}") from None
        if len(data) > protocol.MAX_FRAME_BYTES:
            raise ProtocolError(
                "too_large",
                f"{body['kind']} frame {i} is {len(data) >> 20} MB, over the "
                f"{protocol.MAX_FRAME_BYTES >> 20} MB a message may carry: read it on the server",
            )
        if frames and size + len(data) > protocol.MAX_MESSAGE_BYTES // 2:  # the rest in the next reply
            break
        frames.append(data)
        size += len(data)
    following = start + len(frames)
    return {
        "kind": body["kind"],
        "start": start,
        "frames": frames,
        "next": following if following < stop else None,
    }
