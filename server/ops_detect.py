"""The ``detect`` op: find the objects a text names on one frame, so the user can keep or drop each.

It runs on the session's worker, like ``segment``: the detector (Grounding DINO) is
built there on first use, never on the socket thread. The boxes come back in the
frame's full-resolution pixels, checked by the core's detector (clipped, filtered,
de-duplicated, best first); the client turns the ones the user keeps into objects
with ``segment``, exactly as if they had been drawn. Phrases that found nothing are
listed, so the client can say so instead of showing a silent empty result.
"""

from __future__ import annotations

from inpainterz_core.detect.base import missing_phrases
from inpainterz_core.errors import InputError
from inpainterz_core.prompts import TextPrompt

from . import protocol
from .protocol import ProtocolError
from .sessions import Session
from .state import Request, State


def make_text(state: State, session: Session, fields: dict, where: str) -> TextPrompt:
    """A TextPrompt from a request's fields (nil ones take the defaults), its frame checked against the video."""
    state.check_frame(session, fields["frame"])
    try:
        return TextPrompt(**{k: v for k, v in fields.items() if v is not None})
    except InputError as e:
        raise ProtocolError("bad_request", f"{where}: {e}") from None


def detect(state: State, request: Request, body: dict) -> dict:
    session = state.ready(body["session"])
    index = body["frame"]
    text = make_text(
        state, session, {k: body[k] for k in ("text", "frame", "box_threshold", "text_threshold")}, "detect"
    )
    settings = state.settings(session.settings, body["settings"])
    detector = state.detectors.get(settings)  # may load the model (MissingWeightsError without weights)
    detections = detector.detect(session.read(index), text)
    return {
        "frame": index,
        "detections": [_plain(d.to_dict()) for d in detections[: protocol.MAX_DETECTIONS]],
        "missing": missing_phrases(text, detections),
    }


def _plain(detection: dict) -> dict:
    """Python floats for msgpack (a model's numbers may be numpy scalars)."""
    return {
        "box": [float(v) for v in detection["box"]],
        "phrase": str(detection["phrase"]),
        "score": float(detection["score"]),
    }
