"""A stand-in Inpainterz server for the add-on's connection tests: one ROUTER socket speaking the
protocol (the add-on's own copy of protocol.py), stepped by the test itself, so the order in which
requests are answered is the test's to choose. It records every request; segment previews can be
held back and answered later; jobs end when the test says so."""

import os

import numpy as np
from conftest import write_png


def rle(mask):
    flat = np.asarray(mask, bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return {"size": list(mask.shape), "counts": counts}


def prompt_mask(width, height, points, box):
    """A recognisable mask for a prompt: the box, or a 3x3 square around each positive point."""
    mask = np.zeros((height, width), bool)
    if box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        mask[y0:y1, x0:x1] = True
    for x, y, label in points:
        if label:
            mask[max(0, int(y) - 1) : int(y) + 2, max(0, int(x) - 1) : int(x) + 2] = True
    return mask


class FakeServer:
    def __init__(self, protocol, width, height, frame_count, allowed_roots=(), key=None, curve=None):
        import zmq  # the add-on's bundled pyzmq: importable once the extension is installed

        self.zmq = zmq
        self.protocol = protocol
        self.key = key  # sign replies (requests are read without checking)
        self.wire = []  # every request's frames as they crossed the socket
        self.width, self.height, self.frame_count = width, height, frame_count
        self.allowed_roots = [str(r) for r in allowed_roots]
        self.socket = zmq.Context.instance().socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve is not None:  # encrypted, as a server off loopback (no client check here)
            self.socket.curve_secretkey = curve["server_secret"].encode()
            self.socket.curve_server = True
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"
        self.requests = []  # (op, body), in arrival order
        self.hold_segments = False
        self.held = []  # (identity, id, body) of segment requests not answered yet
        self.jobs = {}  # job id -> (identity, request id, op, body)
        self.uploaded = {}  # session -> list of PNG bytes
        self.open_error = None  # (code, message) to answer open_video with
        self.track_error = None  # (code, message) to answer track with
        self.detections = []  # what the frames hold: [{"box", "phrase", "score"}]; detect answers those it names
        self.detect_error = None  # (code, message) to answer detect with
        self.stages = {}  # hello's backends.stages
        self.track_objects = None  # the finished track's results.objects (what each label is)
        self.track_check_frames = None  # the finished track's results.check_frames (the doubtful frames)
        self.work = None  # the server's own folder for results when a track names no out_dir
        self._sessions = 0

    def close(self):
        self.socket.close(linger=0)

    def ops(self, name=None):
        return [body for op, body in self.requests if name is None or op == name]

    def step(self, timeout_ms=0):
        """Answer every request that has arrived (segments are held while `hold_segments`)."""
        while self.socket.poll(timeout_ms, self.zmq.POLLIN):
            identity, signature, payload = self.socket.recv_multipart()
            self.wire.append((signature, payload))
            message = self.protocol.unpack(payload)
            op, body, request_id = message["op"], message["body"], message["id"]
            self.requests.append((op, body))
            if op == "segment" and self.hold_segments:
                self.held.append((identity, request_id, body))
            else:
                self._answer(identity, request_id, op, body)
            timeout_ms = 0

    def release(self, index=0):
        """Answer one held segment request (the first by default)."""
        identity, request_id, body = self.held.pop(index)
        self._answer(identity, request_id, "segment", body)

    def _send(self, identity, envelope):
        self.socket.send_multipart([identity, *self.protocol.pack(envelope, self.key)])

    def _answer(self, identity, request_id, op, body):
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            self._send(identity, self.protocol.error(request_id, op, "unknown_op", f"the fake has no {op}"))
            return
        reply = handler(identity, request_id, body)
        if isinstance(reply, tuple):  # (code, message)
            self._send(identity, self.protocol.error(request_id, op, *reply))
        elif reply is not None:
            self._send(identity, self.protocol.reply(request_id, op, reply))

    def op_hello(self, identity, request_id, body):
        return {
            "protocol": 1,
            "server_version": "fake",
            "backends": {"stages": self.stages},
            "device": "cpu",
            "weights": {},
            "auth": self.key is not None,
            "channel": "c1" if self.key else None,
            "allowed_roots": self.allowed_roots,
            "limits": {},
        }

    def op_open_video(self, identity, request_id, body):
        if self.open_error is not None:
            return self.open_error
        self._sessions += 1
        session = f"s{self._sessions}"
        if "upload" in body:
            self.uploaded[session] = []
            upload = body["upload"]
            return {
                "session": session,
                "width": upload["width"],
                "height": upload["height"],
                "fps": upload["fps"],
                "frame_count": upload["frame_count"],
                "ready": False,
            }
        return {
            "session": session,
            "width": self.width,
            "height": self.height,
            "fps": 24.0,
            "frame_count": self.frame_count,
            "ready": True,
        }

    def op_upload_frames(self, identity, request_id, body):
        frames = self.uploaded[body["session"]]
        assert body["start"] == len(frames)
        frames.extend(body["frames"])
        return {"received": len(frames), "ready": len(frames) == self.frame_count}

    def op_add_object(self, identity, request_id, body):
        return {"object_id": 1}

    def op_close_video(self, identity, request_id, body):
        return {}

    def op_segment(self, identity, request_id, body):
        mask = prompt_mask(self.width, self.height, body.get("points", []), body.get("box"))
        return {
            "object_id": body["object_id"],
            "frame": body["frame"],
            "mask": rle(mask),
            "area": int(mask.sum()),
        }

    def op_detect(self, identity, request_id, body):
        """The detections the test set whose phrase the text names; the text's phrases without one
        are listed as missing, as a real server does."""
        if self.detect_error is not None:
            return self.detect_error
        phrases = [p.strip() for p in body["text"].split(".") if p.strip()]
        detections = [d for d in self.detections if d["phrase"] in phrases]
        reply = {
            "frame": body["frame"],
            "detections": detections,
            "missing": [p for p in phrases if p not in {d["phrase"] for d in detections}],
        }
        self.protocol.check_message(self.protocol.reply(request_id, "detect", reply))  # the real schema
        return reply

    def op_track(self, identity, request_id, body):
        if self.track_error is not None:
            return self.track_error
        job = f"j{len(self.jobs) + 1}"
        self.jobs[job] = (identity, request_id, "track", body)
        return {"job": job, "out_dir": body.get("out_dir") or str(self.work)}

    def finish_track(self, job):
        """Write label maps of the job's prompts (every frame: the first prompt's mask) and end it."""
        identity, request_id, _, body = self.jobs[job]
        first = body["objects"][0]
        labels = prompt_mask(self.width, self.height, first["points"], first.get("box")).astype(np.uint8)
        start, stop = body.get("start", 0), body.get("stop", self.frame_count)
        out = body.get("out_dir") or str(self.work)
        os.makedirs(os.path.join(out, "masks"), exist_ok=True)
        for i in range(start, stop):
            write_png(os.path.join(out, "masks", f"{i:06d}.png"), labels)
        results = {"out_dir": out, "masks": os.path.join(out, "masks"), "mask_range": [start, stop]}
        if self.track_objects is not None:
            results["objects"] = self.track_objects
        if self.track_check_frames is not None:
            results["check_frames"] = self.track_check_frames
        self.results = results
        self._send(
            identity,
            self.protocol.event(
                request_id, "job_finished", {"job": job, "kind": "track", "results": results}
            ),
        )

    def op_result_frames(self, identity, request_id, body):
        start, stop = self.results["mask_range"]
        end = min(stop, body["start"] + body.get("count", 16))
        frames = [
            open(os.path.join(self.results["masks"], f"{i:06d}.png"), "rb").read()
            for i in range(body["start"], end)
        ]
        return {
            "kind": body["kind"],
            "start": body["start"],
            "frames": frames,
            "next": end if end < stop else None,
        }
