"""The one message schema of the Inpainterz server (see docs/protocol.md).

Envelope, op names, request, reply and event bodies with types and limits, error
codes, HMAC signing with per-run channels, and bounded msgpack decoding. Server and client both import this
module, and the Blender add-on bundles a copy, so it needs only the standard
library and msgpack: no numpy, no torch, no sibling imports.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 1
DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"

# -- limits ----------------------------------------------------------------------------------------
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # ZeroMQ MAXMSGSIZE on both ends
MAX_STR = 4096  # paths, ids, names
MAX_ID = 64  # request, session and job ids
MAX_POINTS = 256  # clicks on one object on one frame
MAX_SETTINGS = 32  # entries in a settings map
MAX_FRAME_BYTES = 32 * 1024 * 1024  # one uploaded PNG
MAX_SIDE = 8192  # width or height of a video or an uploaded frame
MAX_FRAMES = 100_000  # frames in one video
MAX_UPLOAD_FRAMES = 64  # frames in one upload_frames chunk
MAX_SESSIONS = 8
MAX_QUEUED_JOBS = 16
MAX_OBJECTS = 255  # objects in one session or one track request
MAX_UNREAD = 4096  # replies a client may leave unread before further requests get `busy`
MAX_TEXT = 1024  # a detect request's text: phrases separated by "."
MAX_DETECTIONS = MAX_OBJECTS  # boxes in one detect reply (the best-scored; each may become an object)


# -- errors ----------------------------------------------------------------------------------------
ERROR_CODES = (
    "bad_message",
    "unsupported_version",
    "unknown_op",
    "bad_request",
    "too_large",
    "not_found",
    "not_ready",
    "busy",
    "path_not_allowed",
    "bad_input",
    "missing_weights",
    "expired",
    "internal",
)


class ProtocolError(Exception):
    """A request the server (or the client, before sending) refuses; becomes an error reply."""

    def __init__(self, code: str, message: str, request_id: str | None = None, op: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id  # the request to answer, when it could be read
        self.op = op


# -- request bodies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One body field: its type, whether it is required, and its bounds.

    ``lo``/``hi`` bound the value of numbers and the length of str, bytes and lists.
    """

    kind: str  # int | number | str | bool | bytes | list | map | settings | any
    required: bool = False
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    item: Field | None = None  # list items
    fields: dict[str, Field] | None = None  # map with known keys
    nullable: bool = False  # replies: a required key whose value may be nil


def Int(lo=None, hi=None, *, required=False, default=None):
    return Field("int", required, default, lo, hi)


def Str(hi=MAX_STR, *, lo=1, required=False, default=None):
    return Field("str", required, default, lo, hi)


SESSION = Str(MAX_ID, required=True)
JOB = Str(MAX_ID, required=True)
FRAME = Int(0, MAX_FRAMES - 1, required=True)
POINT = Field("list", lo=2, hi=3, item=Field("number"))
SETTINGS = Field("settings")
RANGE = {"start": Int(0, MAX_FRAMES), "stop": Int(0, MAX_FRAMES)}  # nil: the default range
BOX = Field("list", lo=4, hi=4, item=Field("number"))
#: One object's prompt on one frame, as the client shows it (``track.objects``).
OBJECT = Field(
    "map",
    fields={
        "object_id": Int(1, 255, required=True),
        "frame": FRAME,
        "points": Field("list", default=[], hi=MAX_POINTS, item=POINT),
        "box": BOX,
    },
)

THRESHOLD = Field("number", lo=0, hi=1)  # a detector's least score, in (0, 1] (0 is refused by the core)
#: Objects named in words (``track.text``): the detector looks for more of them every ``detect_every`` frames.
TEXT = Field(
    "map",
    fields={
        "text": Str(MAX_TEXT, required=True),
        "frame": FRAME,
        "box_threshold": THRESHOLD,
        "text_threshold": THRESHOLD,
        "detect_every": Int(1, MAX_FRAMES, required=True),
        # boxes found on ``frame`` that the user dropped: they stay in the picture and are never found again
        "keep": Field("list", default=[], hi=MAX_DETECTIONS, item=BOX),
    },
)

REQUESTS: dict[str, dict[str, Field]] = {
    "hello": {},
    "open_video": {
        "path": Str(),
        "upload": Field(
            "map",
            fields={
                "width": Int(1, MAX_SIDE, required=True),
                "height": Int(1, MAX_SIDE, required=True),
                "frame_count": Int(1, MAX_FRAMES, required=True),
                "fps": Field("number", required=True, lo=0.001, hi=1000),
            },
        ),
        "settings": SETTINGS,
    },
    "upload_frames": {
        "session": SESSION,
        "start": Int(0, MAX_FRAMES, required=True),
        "frames": Field(
            "list", required=True, lo=1, hi=MAX_UPLOAD_FRAMES, item=Field("bytes", lo=8, hi=MAX_FRAME_BYTES)
        ),
    },
    "frame": {
        "session": SESSION,
        "frame": FRAME,
        "max_side": Int(16, MAX_SIDE, default=1024),
        "format": Str(8, default="jpeg"),
    },
    "add_object": {"session": SESSION},
    "segment": {
        "session": SESSION,
        "object_id": Int(1, 255, required=True),
        "frame": FRAME,
        "points": Field("list", default=[], hi=MAX_POINTS, item=POINT),
        "box": BOX,
    },
    "remove_object": {"session": SESSION, "object_id": Int(1, 255, required=True)},
    "detect": {
        "session": SESSION,
        "frame": FRAME,
        "text": Str(MAX_TEXT, required=True),
        "box_threshold": THRESHOLD,
        "text_threshold": THRESHOLD,
        "settings": SETTINGS,
    },
    "track": {
        "session": SESSION,
        **RANGE,
        "settings": SETTINGS,
        "out_dir": Str(),
        "objects": Field("list", lo=1, hi=MAX_OBJECTS, item=OBJECT),
        "text": TEXT,
    },
    "inpaint": {"session": SESSION, **RANGE, "settings": SETTINGS},
    "cancel": {"job": JOB},
    "job_status": {"job": JOB},
    "results": {"session": SESSION},
    "result_frames": {
        "session": SESSION,
        "kind": Str(16, required=True),
        "start": Int(0, MAX_FRAMES - 1, required=True),
        "count": Int(1, MAX_UPLOAD_FRAMES, default=16),
    },
    "close_video": {"session": SESSION},
    "shutdown": {},
}

#: Ops that start a job: their reply carries ``job`` and events follow.
JOB_OPS = ("track", "inpaint")


# -- reply and event bodies (server -> client) ---------------------------------------------------------
# Every key listed is present in every reply (``required``); ``nullable`` ones may be nil.


def Out(kind: str, *, nullable=False, lo=None, hi=None, item=None, fields=None) -> Field:
    return Field(kind, True, None, lo, hi, item, fields, nullable)


RANGE_OUT = Out("list", nullable=True, lo=2, hi=2, item=Field("int"))
PATH_OUT = Out("str", nullable=True, lo=1, hi=MAX_STR)
#: confidence: the tracker's per frame of mask_range (nil where it cannot tell); check_frames: the frames
#: whose mask is likely wrong, where a corrective click helps most; objects: what each label of the masks
#: is (phrase and score nil for an object clicked; objects found while tracking have a phrase), and the
#: frames where that object's mask is likely wrong (nil where the tracker cannot tell objects apart).
TRACKED_OBJECT = Field(
    "map",
    fields={
        "object_id": Out("int", lo=1, hi=255),
        "phrase": Out("str", nullable=True),
        "first_frame": Out("int", lo=0),
        "score": Out("number", nullable=True, lo=0, hi=1),
        "box": Out("list", nullable=True, lo=4, hi=4, item=Field("number")),
        "check_frames": Out("list", nullable=True, item=Field("int", lo=0)),
    },
)
RESULTS = {
    "out_dir": PATH_OUT,
    "masks": PATH_OUT,
    "mask_range": RANGE_OUT,
    "confidence": Out("list", nullable=True, item=Field("number", lo=0, hi=1, nullable=True)),
    "check_frames": Out("list", nullable=True, item=Field("int", lo=0)),
    "objects": Out("list", nullable=True, hi=255, item=TRACKED_OBJECT),
    "inpainted": PATH_OUT,
    "inpaint_range": RANGE_OUT,
    "video": PATH_OUT,
    "report": PATH_OUT,
    #: per frame of inpaint_range: the px its mask was grown by into the hole painted out (the clean frames' matte)
    "hole_radius": Out("list", nullable=True, item=Field("int", lo=0)),
}
JOB_RESULTS = Field(
    "map",
    True,
    fields={k: Field(v.kind, False, None, v.lo, v.hi, v.item, None, True) for k, v in RESULTS.items()},
)  # a job reports its own keys
SESSION_OUT = {
    "session": Out("str"),
    "width": Out("int", lo=1),
    "height": Out("int", lo=1),
    "fps": Out("number", lo=0),
    "frame_count": Out("int", lo=0),
    "ready": Out("bool"),
}
RLE = Out("map", fields={"size": Out("list", lo=2, hi=2, item=Field("int", lo=0)), "counts": Out("list")})
JOB_ACCEPTED = {"job": Out("str"), "out_dir": Out("str")}
#: One box a detect request found: full-resolution pixels of the frame, the phrase it matched, its score.
DETECTION = Out(
    "map",
    fields={
        "box": Out("list", lo=4, hi=4, item=Field("number", lo=0)),
        "phrase": Out("str"),
        "score": Out("number", lo=0, hi=1),
    },
)
JOB_STATUS = {
    "job": Out("str"),
    "kind": Out("str"),
    "session": Out("str"),
    "state": Out("str"),
    "stage": Out("str", lo=0),
    "done": Out("int"),
    "total": Out("int"),
    "error": Out("map", nullable=True, fields={"code": Out("str"), "message": Out("str", lo=0)}),
}

REPLIES: dict[str, dict[str, Field]] = {
    "hello": {
        "protocol": Out("int"),
        "server_version": Out("str"),
        "backends": Out("map", fields=None),
        "device": Out("str"),
        "weights": Out("map", fields=None),
        "auth": Out("bool"),
        "channel": Out("str", nullable=True),
        "allowed_roots": Out("list", item=Field("str")),
        "limits": Out("map", fields=None),
    },
    "open_video": SESSION_OUT,
    "upload_frames": {"received": Out("int", lo=0), "ready": Out("bool")},
    "frame": {
        "frame": Out("int", lo=0),
        "width": Out("int", lo=1),
        "height": Out("int", lo=1),
        "format": Out("str"),
        "data": Out("bytes"),
    },
    "add_object": {"object_id": Out("int", lo=1, hi=255)},
    "segment": {
        "object_id": Out("int", lo=1, hi=255),
        "frame": Out("int", lo=0),
        "mask": RLE,
        "area": Out("int", lo=0),
    },
    "remove_object": {"object_id": Out("int", lo=1, hi=255), "objects": Out("list", item=Field("int"))},
    "detect": {
        "frame": Out("int", lo=0),
        "detections": Out("list", hi=MAX_DETECTIONS, item=DETECTION),
        "missing": Out("list", item=Field("str")),
    },
    "track": JOB_ACCEPTED,
    "inpaint": JOB_ACCEPTED,
    "cancel": {"job": Out("str"), "state": Out("str")},
    "job_status": JOB_STATUS,
    "results": RESULTS,
    "result_frames": {
        "kind": Out("str"),
        "start": Out("int", lo=0),
        "frames": Out("list", item=Field("bytes")),
        "next": Out("int", nullable=True),
    },
    "close_video": {},
    "shutdown": {},
}
ERROR_BODY = {"code": Out("str"), "message": Out("str", lo=0)}

#: Event ops (server -> client, kind "event"); the last three end a job.
EVENTS: dict[str, dict[str, Field]] = {
    "progress": {"job": Out("str"), "stage": Out("str", lo=0), "done": Out("int"), "total": Out("int")},
    "job_finished": {"job": Out("str"), "kind": Out("str"), "results": JOB_RESULTS},
    "job_failed": {"job": Out("str"), "kind": Out("str"), "code": Out("str"), "message": Out("str", lo=0)},
    "job_cancelled": {"job": Out("str"), "kind": Out("str")},
}


def check_message(message: Any) -> None:
    """Check a decoded server message (reply, error or event) against the schema; ProtocolError if it differs.

    The server's tests run every reply through this, so the tables above stay the contract.
    """
    if not isinstance(message, dict) or set(message) != {"v", "id", "op", "kind", "body"}:
        raise ProtocolError("bad_message", "a server message has exactly the keys v, id, op, kind, body")
    kind, op, body = message["kind"], message["op"], message["body"]
    if kind == "error":
        _check_map(ERROR_BODY, body, "error")
        if body["code"] not in ERROR_CODES:
            raise ProtocolError("bad_message", f"error code {body['code']!r} is not in ERROR_CODES")
    elif kind == "reply":
        if op not in REPLIES:
            raise ProtocolError("bad_message", f"a reply to unknown op {op!r}")
        _check_map(REPLIES[op], body, f"{op} reply")
    elif kind == "event":
        if op not in EVENTS:
            raise ProtocolError("bad_message", f"unknown event {op!r}")
        _check_map(EVENTS[op], body, f"{op} event")
    else:
        raise ProtocolError("bad_message", f"unknown message kind {kind!r}")


def validate_body(op: str, body: Any) -> dict:
    """The request body with defaults filled in, or a ProtocolError naming the first bad field."""
    if op not in REQUESTS:
        raise ProtocolError("unknown_op", f"unknown op {op!r}")
    if not isinstance(body, dict):
        raise ProtocolError("bad_request", f"{op}: body must be a map")
    return _check_map(REQUESTS[op], body, op)


def _check_map(fields: dict[str, Field], value: dict, where: str) -> dict:
    unknown = [k for k in value if k not in fields]
    if unknown:
        raise ProtocolError("bad_request", f"{where}: unknown field {str(unknown[0])[:40]!r}")
    out = {}
    for name, field in fields.items():
        if value.get(name) is None:
            if field.nullable and name in value:
                out[name] = None
                continue
            if field.required:
                raise ProtocolError("bad_request", f"{where}: {name} is required")
            out[name] = field.default
        else:
            out[name] = _check(field, value[name], f"{where}.{name}")
    return out


def _check(field: Field, value: Any, where: str) -> Any:
    kind = field.kind
    if kind == "int":
        if type(value) is not int:
            raise ProtocolError("bad_request", f"{where} must be an integer")
        _bound(field, value, where, "")
    elif kind == "number":
        if type(value) not in (int, float) or not math.isfinite(value):
            raise ProtocolError("bad_request", f"{where} must be a finite number")
        _bound(field, value, where, "")
    elif kind == "bool":
        if type(value) is not bool:
            raise ProtocolError("bad_request", f"{where} must be true or false")
    elif kind in ("str", "bytes", "list"):
        expected = {"str": str, "bytes": bytes, "list": list}[kind]
        if type(value) is not expected:
            raise ProtocolError("bad_request", f"{where} must be a {kind}")
        _bound(field, len(value), where, " long")
        if kind == "list" and field.item is not None:
            return [
                None if v is None and field.item.nullable else _check(field.item, v, f"{where}[{i}]")
                for i, v in enumerate(value)
            ]
    elif kind == "map":
        if type(value) is not dict:
            raise ProtocolError("bad_request", f"{where} must be a map")
        if field.fields is None:  # a reply's free-form map (e.g. hello's limits)
            return value
        return _check_map(field.fields or {}, value, where)
    elif kind == "settings":
        if type(value) is not dict or len(value) > MAX_SETTINGS:
            raise ProtocolError("bad_request", f"{where} must be a map of at most {MAX_SETTINGS} settings")
        for k, v in value.items():
            if type(k) is not str or not (v is None or type(v) in (bool, int, float, str)):
                raise ProtocolError("bad_request", f"{where}: settings are names with scalar values")
            if type(v) is str and len(v) > MAX_STR or type(v) is float and not math.isfinite(v):
                raise ProtocolError("bad_request", f"{where}.{k} is out of range")
    return value


def _bound(field: Field, n: float, where: str, unit: str) -> None:
    if field.lo is not None and n < field.lo or field.hi is not None and n > field.hi:
        lo = "" if field.lo is None else f"{field.lo:g}"
        hi = "" if field.hi is None else f"{field.hi:g}"
        raise ProtocolError("bad_request", f"{where} must be{unit} in [{lo}, {hi}], got {n:g}")


# -- envelopes --------------------------------------------------------------------------------------


def request(request_id: str, op: str, body: dict, channel: str | None = None, seq: int | None = None) -> dict:
    """A request envelope; ``channel`` and ``seq`` bind a signed request to one server run (see ``Envelope``)."""
    envelope = {"v": VERSION, "id": request_id, "op": op, "body": body}
    if channel is not None:
        envelope.update(channel=channel, seq=seq)
    return envelope


def reply(request_id: str | None, op: str | None, body: dict) -> dict:
    return {"v": VERSION, "id": request_id, "op": op, "kind": "reply", "body": body}


def error(request_id: str | None, op: str | None, code: str, message: str) -> dict:
    return {
        "v": VERSION,
        "id": request_id,
        "op": op,
        "kind": "error",
        "body": {"code": code, "message": message},
    }


def event(request_id: str | None, op: str, body: dict) -> dict:
    return {"v": VERSION, "id": request_id, "op": op, "kind": "event", "body": body}


@dataclass(frozen=True)
class Envelope:
    """A parsed request. ``channel`` and ``seq`` are set on signed requests (all but a first ``hello``):
    the channel is a token the server issued in this run's ``hello`` reply, and ``seq`` grows with each
    request on it, so a captured request is refused later in this run and by every later run."""

    id: str
    op: str
    body: dict
    channel: str | None = None
    seq: int | None = None


def parse_request(envelope: Any) -> Envelope:
    """The decoded request envelope, with the body validated.

    Raises ProtocolError, with ``request_id`` and ``op`` set when they could be read.
    """
    if not isinstance(envelope, dict):
        raise ProtocolError("bad_message", "the payload must be a msgpack map")
    request_id, op = envelope.get("id"), envelope.get("op")
    if not (type(request_id) is str and 1 <= len(request_id) <= MAX_ID):
        raise ProtocolError("bad_message", f"id must be a string of 1 to {MAX_ID} characters")
    if type(op) is not str or len(op) > MAX_ID:
        raise ProtocolError("bad_message", "op must be a short string", request_id)
    if envelope.get("v") != VERSION:
        version = str(envelope.get("v"))[:20]
        raise ProtocolError(
            "unsupported_version",
            f"protocol version {version} is not supported: this server speaks {VERSION}",
            request_id,
            op,
        )
    if "body" not in envelope or set(envelope) - {"v", "id", "op", "body", "channel", "seq"}:
        raise ProtocolError(
            "bad_message", "the envelope has the keys v, id, op, body (and channel, seq)", request_id, op
        )
    channel, seq = envelope.get("channel"), envelope.get("seq")
    if (
        (channel is None) != (seq is None)
        or channel is not None
        and not (
            type(channel) is str and 1 <= len(channel) <= MAX_ID and type(seq) is int and 1 <= seq < 2**63
        )
    ):
        raise ProtocolError(
            "bad_message", "channel (a string) and seq (a positive integer) come together", request_id, op
        )
    try:
        body = validate_body(op, envelope["body"])
    except ProtocolError as e:
        e.request_id, e.op = request_id, op
        raise
    return Envelope(request_id, op, body, channel, seq)


# -- wire format: [signature, payload] ------------------------------------------------------------


def sign(key: bytes | None, payload: bytes) -> bytes:
    """Hex HMAC-SHA256 of the payload, or b"" without a key (the Jupyter convention)."""
    if not key:
        return b""
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode("ascii")


def verify(key: bytes | None, payload: bytes, signature: bytes) -> bool:
    """Whether the signature is right; always true without a key."""
    if not key:
        return True
    return hmac.compare_digest(sign(key, payload), signature)


def pack(envelope: dict, key: bytes | None) -> list[bytes]:
    """The two frames of a message: signature and msgpack payload."""
    payload = msgpack.packb(envelope, use_bin_type=True)
    return [sign(key, payload), payload]


def unpack(payload: bytes, *, trusted: bool = False) -> Any:
    """Decode a msgpack payload, with every string, binary, array and map bounded.

    ``trusted`` (the client reading the server's replies) allows the long arrays of
    a mask's RLE; the server always decodes requests with the tight limits.
    """
    try:
        return msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_STR * 4,
            max_bin_len=MAX_FRAME_BYTES,
            max_array_len=MAX_MESSAGE_BYTES if trusted else 4 * MAX_POINTS,
            max_map_len=1024 if trusted else 64,
            max_ext_len=0,
        )
    except Exception as e:  # msgpack raises ValueError, TypeError, UnicodeDecodeError, StackError, ...
        raise ProtocolError("bad_message", f"unreadable msgpack ({type(e).__name__})") from None
