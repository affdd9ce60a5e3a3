"""Batch removal: many shots, each one Ray task running ``pipeline.remove``, here or on a cluster.

A SHOTS.json file names each shot's input, output, prompts and settings; ``load_shots`` checks the
whole file and lists every problem at once, before anything runs. ``run`` sends each shot to Ray as
one task in its own worker process: a shot that fails is recorded with its one-line error while the
others go on, and a shot whose worker process dies (killed, out of memory) is re-run by Ray up to
``retries`` times. ``pipeline.remove`` publishes its outputs atomically, so a dead attempt never leaves a
half-written output. Ray is an optional extra (``pip install 'inpainterz[batch]'``), imported only
in ``run``.

Resume: batch-report.json keeps each finished shot's input size and modification time. A shot whose
input is unchanged since then and whose output still holds the report.json of the same source,
prompts and settings is skipped (``force`` redoes it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import InpainterzError, InputError
from .prompts import ObjectPrompt, Prompts
from .settings import Settings

log = logging.getLogger("inpainterz")

BatchProgress = Callable[[int, int], None]  # (frames done, frames in all the shots being run)
REPORT_NAME = "batch-report.json"
_REPORT_MARK = "inpainterz batch report"  # written into batch-report.json: never overwrite anyone else's file
_SHOT_KEYS = ("name", "input", "output", "prompts", "settings")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Shot:
    """One clip to clean: everything ``pipeline.remove`` needs, with absolute paths (workers run elsewhere)."""

    name: str
    input: Path
    output: Path
    prompts: Prompts
    settings: Settings


# -- SHOTS.json -----------------------------------------------------------------------------------------


class ShotsFileError(InputError):
    """Every problem found in a SHOTS.json file, one line each."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        super().__init__("\n".join([f"{path}: {count}, nothing was run:", *(f"  {p}" for p in problems)]))


def load_shots(path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Shot]:
    """The shots of a SHOTS.json file; relative paths are relative to the file, ``output`` defaults to ROOT/name.

    Raises ``ShotsFileError`` listing every problem at once. That an input exists is not checked
    here: a missing input fails its own shot when the batch runs, and the other shots go on.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("shots"), list) or not data["shots"]:
        raise InputError(
            f'{path}: expected {{"shots": [{{"name": "sh010", "input": "sh010.mp4", '
            f'"prompts": [...]}}, ...]}} with at least one shot'
        )
    base = path.parent
    root = Path(root) if root is not None else base
    problems = [f'unknown key {key!r} (only "shots")' for key in data if key != "shots"]
    shots: list[Shot] = []
    for number, item in enumerate(data["shots"], 1):
        shot, found = _parse_shot(item, base, root)
        label = f"shot {number}" + (
            f" ({item['name']})" if isinstance(item, dict) and isinstance(item.get("name"), str) else ""
        )
        problems += [f"{label}: {p}" for p in found]
        if shot is not None:
            shots.append(shot)
    problems += _clashes(shots)
    if problems:
        raise ShotsFileError(path, problems)
    return shots


def _parse_shot(item, base: Path, root: Path) -> tuple[Shot | None, list[str]]:
    if not isinstance(item, dict):
        return None, ['expected an object {"name": ..., "input": ..., "prompts": [...]}']
    problems = [
        f"unknown key {key!r} (known: {', '.join(_SHOT_KEYS)})" for key in item if key not in _SHOT_KEYS
    ]
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f'"name" must be a folder name of letters, digits, ".", "_" or "-", not {name!r}')
    paths = {}
    for key in ("input", "output"):
        value = item.get(key)
        if value is None and key == "output":
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f'"{key}" must be a path (a string), not {value!r}')
        else:
            paths[key] = Path(os.path.abspath(base / os.path.expanduser(value)))
    prompts = _parse_prompts(item.get("prompts"), problems)
    settings = _parse_settings(item.get("settings", {}), problems)
    if problems:
        return None, problems
    output = paths.get("output") or Path(os.path.abspath(root / name))
    return Shot(name, paths["input"], output, prompts, settings), []


def _parse_prompts(items, problems: list[str]) -> Prompts | None:
    if not isinstance(items, list) or not items:
        problems.append('"prompts" must be a list of objects, e.g. [{"frame": 0, "points": [[x, y, 1]]}]')
        return None
    objects = []
    for n, item in enumerate(items, 1):
        try:
            if not isinstance(item, dict):
                raise InputError("expected an object")
            objects.append(ObjectPrompt.from_dict(item))
        except InputError as e:
            problems.append(f"prompt {n}: {e}")
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            problems.append(f"prompt {n}: malformed ({e})")
    return Prompts(tuple(objects)) if len(objects) == len(items) else None


def _parse_settings(values, problems: list[str]) -> Settings | None:
    """Settings.from_dict, one field at a time first, so that every bad field gets its own line."""
    if not isinstance(values, dict):
        problems.append(f'"settings" must be an object such as {{"dilate": 6}}, not {values!r}')
        return None
    found = []
    for key, value in values.items():
        try:
            Settings.from_dict({key: value})
        except (InputError, TypeError, ValueError) as e:
            found.append(_settings_problem(e, key))
    if not found:
        try:
            return Settings.from_dict(values)
        except (InputError, TypeError, ValueError) as e:
            found.append(_settings_problem(e, None))
    problems += found
    return None


def _settings_problem(e: Exception, key: str | None) -> str:
    message = str(e) if isinstance(e, InputError) or key is None else f"{key}: {e}"
    return message if message.startswith(("settings", "unknown settings")) else f"settings: {message}"


def _clashes(shots: list[Shot]) -> list[str]:
    """Two shots with one name, or writing one folder, would overwrite each other's results."""
    problems, names, outputs = [], set(), {}
    for shot in shots:
        if shot.name in names:
            problems.append(f"the name {shot.name!r} is used by more than one shot")
        elif shot.output in outputs:
            problems.append(f"shots {outputs[shot.output]!r} and {shot.name!r} both write to {shot.output}")
        names.add(shot.name)
        outputs.setdefault(shot.output, shot.name)
    return problems


# -- resume ---------------------------------------------------------------------------------------------------


def input_stamp(path: Path) -> dict | None:
    """Size and modification time of a video file, or of all the files of an image folder; None when absent."""
    try:
        if path.is_dir():
            stats = [p.stat() for p in path.iterdir() if p.is_file()]
            return {
                "size": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
                "files": len(stats),
            }
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except OSError:
        return None


def _plain(value):
    """As it reads back from JSON (tuples become lists), to compare with what a report holds."""
    return json.loads(json.dumps(value))


def _finished_report(shot: Shot, stamp: dict | None, earlier: dict | None) -> dict | None:
    """The output's report.json when it is a finished run of this very shot, else None.

    Finished: an earlier batch recorded this input's size and mtime when it ran the shot, and
    the report in the output names the same source, prompts and settings (a report.json is
    only ever there complete: ``pipeline.remove`` writes its output atomically).
    """
    if stamp is None or earlier is None or earlier.get("status") not in ("done", "skipped"):
        return None
    if earlier.get("input") != str(shot.input) or earlier.get("input_stamp") != stamp:
        return None
    try:
        report = json.loads((shot.output / "report.json").read_text())
        same_source = Path(report["source"]).resolve() == shot.input.resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (
        same_source
        and report.get("prompts") == _plain([o.to_dict() for o in shot.prompts.objects])
        and report.get("settings") == _plain(shot.settings.to_dict())
    ):
        return report
    return None


def read_report(path: Path) -> list[dict]:
    """The records of an earlier batch-report.json ([] when there is none)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    if (
        not isinstance(data, dict)
        or data.get("written_by") != _REPORT_MARK
        or not isinstance(data.get("shots"), list)
    ):
        raise InputError(
            f"{path} exists and was not written by inpainterz batch: move it away or give another -o"
        )
    return [r for r in data["shots"] if isinstance(r, dict)]


def write_report(path: Path, records: list[dict]) -> None:
    """batch-report.json, replaced atomically (it is rewritten as each shot finishes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps({"written_by": _REPORT_MARK, "shots": records}, indent=2))
    tmp.replace(path)


# -- running ---------------------------------------------------------------------------------------------------


def _record(
    shot: Shot,
    status: str,
    stamp: dict | None,
    *,
    report: dict | None = None,
    seconds: float | None = None,
    host: str | None = None,
    error: str | None = None,
) -> dict:
    """What the batch says about one shot, in the table and in batch-report.json."""
    return {
        "name": shot.name,
        "input": str(shot.input),
        "output": str(shot.output),
        "status": status,
        "frames": report.get("frames") if report else None,
        "seconds": seconds,
        "backends": {stage: b.get("name") for stage, b in report["backends"].items()} if report else None,
        "host": host,
        "error": error,
        "input_stamp": stamp,
    }


def _frame_count(path: Path) -> int:
    from .video import open_video

    with open_video(path) as source:
        return source.frame_count


def run(
    shots: list[Shot],
    address: str | None = None,
    *,
    cpus_per_shot: float = 1.0,
    gpus_per_shot: float | None = None,
    retries: int = 2,
    force: bool = False,
    report_path: str | os.PathLike | None = None,
    progress: BatchProgress | None = None,
) -> list[dict]:
    """Remove the objects of every shot; one record per shot, in the order given.

    ``address``: None starts Ray on this machine for this call (unless Ray is already
    initialised in this process: then that Ray is used and left running); "auto" or
    "ray://host:10001" joins a cluster. ``gpus_per_shot`` None: one GPU for a shot that may
    run a model (backend auto or model, device not cpu) when the cluster has GPUs, else none.
    ``report_path``: batch-report.json, read to skip finished shots (unless ``force``) and
    rewritten as each shot ends.
    """
    if cpus_per_shot <= 0 or (gpus_per_shot is not None and gpus_per_shot < 0) or retries < 0:
        raise InputError("cpus per shot must be above 0, gpus per shot and retries 0 or more")
    report_path = Path(report_path) if report_path is not None else None
    earlier = {r.get("output"): r for r in read_report(report_path)} if report_path is not None else {}
    records: dict[str, dict] = {}
    todo: list[tuple[Shot, dict, int]] = []
    for shot in shots:
        stamp = input_stamp(shot.input)
        report = None if force else _finished_report(shot, stamp, earlier.get(str(shot.output)))
        if report is not None:
            records[shot.name] = _record(shot, "skipped", stamp, report=report)
            continue
        try:
            frames = _frame_count(shot.input)
        except InpainterzError as e:
            records[shot.name] = _record(shot, "failed", stamp, error=str(e))
            continue
        todo.append((shot, stamp, frames))

    def save(record: dict | None = None) -> None:
        if record is not None:
            records[record["name"]] = record
        if report_path is not None:
            # Shots not reached yet keep their earlier record, so an interrupted batch still resumes.
            merged = {**earlier, **{r["output"]: r for r in records.values()}}
            write_report(report_path, list(merged.values()))

    if todo:
        _run_on_ray(todo, address, cpus_per_shot, gpus_per_shot, retries, progress, save)
    ordered = [records[shot.name] for shot in shots]
    if report_path is not None:
        write_report(report_path, ordered)
    return ordered


def _run_on_ray(todo, address, cpus_per_shot, gpus_per_shot, retries, progress, save) -> None:
    try:
        import ray
    except ImportError:
        raise InputError("inpainterz batch needs Ray: pip install 'inpainterz[batch]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address is not None:
            _check_listening(address)
        on_sigterm = signal.getsignal(signal.SIGTERM)
        try:
            if address is None:  # "local": a Ray of its own, even where `ray start` runs one already
                ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise InputError(f"cannot start or reach {where}: {str(e).splitlines()[0]}") from None
        if callable(on_sigterm) and threading.current_thread() is threading.main_thread():
            # ray.init puts in a handler that exits at once; the caller's (the CLI's) stops the shots cleanly
            signal.signal(signal.SIGTERM, on_sigterm)
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = {
            shot.name: gpus_per_shot
            if gpus_per_shot is not None
            else _default_gpus(shot.settings, cluster_gpus)
            for shot, _, _ in todo
        }
        _check_fits(ray, cpus_per_shot, max(gpus.values()))
        tracker = ray.remote(num_cpus=0)(_ProgressTracker).remote()
        task = ray.remote(_remove_shot)
        pending = {}
        for shot, stamp, frames in todo:
            ref = task.options(
                name=f"inpainterz shot {shot.name}",
                num_cpus=cpus_per_shot,
                num_gpus=gpus[shot.name],
                max_retries=retries,
                retry_exceptions=False,
            ).remote(shot, frames, tracker)
            pending[ref] = (shot, stamp, frames)
        total = sum(frames for _, _, frames in todo)
        finished: dict[str, int] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                for ref in ready:
                    shot, stamp, frames = pending.pop(ref)
                    record = _collect(ray, ref, shot, stamp, retries)
                    if record["status"] == "done":
                        finished[shot.name] = frames
                    save(record)
                if progress is not None:
                    done = {**ray.get(tracker.snapshot.remote()), **finished}
                    progress(sum(done.values()), total)
        except BaseException:  # Ctrl+C: stop the shots still running; their outputs stay as they were
            _stop(ray, list(pending))
            raise
    finally:
        if started_here:
            ray.shutdown()


def _stop(ray, refs: list, grace_s: float = 10.0) -> None:
    """Interrupt running shots, so that each one deletes its scratch folder; kill those that do not stop."""
    for ref in refs:
        ray.cancel(ref)
    _, still_running = ray.wait(refs, num_returns=len(refs), timeout=grace_s)
    for ref in still_running:
        ray.cancel(ref, force=True)


def _check_listening(address: str) -> None:
    """Fail at once, in one line, where Ray would retry for minutes an address that nothing listens on."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # "auto": Ray looks for the cluster this machine is part of and says what it finds
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise InputError(
            f"no Ray cluster answers at {address} ({e.strerror or e}): start its head with "
            "`ray start --head`, or check the address"
        ) from None


def _check_fits(ray, cpus: float, gpus: float) -> None:
    """A shot asking for more than any one machine has would wait for ever: say so before any runs."""
    machines = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    most_cpus = max((m.get("CPU", 0) for m in machines), default=0)
    most_gpus = max((m.get("GPU", 0) for m in machines), default=0)
    if cpus > most_cpus:
        raise InputError(
            f"a shot asks for {cpus:g} CPUs but the largest machine of the Ray cluster has "
            f"{most_cpus:g}: give --cpus-per-shot {most_cpus:g} or less"
        )
    if gpus > most_gpus:
        raise InputError(
            f"a shot asks for {gpus:g} GPU(s) but the largest machine of the Ray cluster has "
            f"{most_gpus:g}: add a GPU machine (ray start --address) or give --gpus-per-shot 0"
        )


def _default_gpus(settings: Settings, cluster_gpus: float) -> float:
    may_run_a_model = settings.backend != "classical" and settings.device != "cpu"
    return 1.0 if may_run_a_model and cluster_gpus >= 1 else 0.0


def _collect(ray, ref, shot: Shot, stamp: dict | None, retries: int) -> dict:
    """The record of a finished task: its result, or what went wrong in one line."""
    try:
        outcome = ray.get(ref)
    except ray.exceptions.WorkerCrashedError:
        return _record(
            shot,
            "failed",
            stamp,
            error=f"its worker process died {retries + 1} time(s) (killed, or out of memory)",
        )
    except ray.exceptions.RayTaskError as e:  # a bug in Inpainterz: keep the traceback in the log
        log.error("shot %s:\n%s", shot.name, e)
        cause = e.cause if e.cause is not None else e
        return _record(shot, "failed", stamp, error=f"internal error: {type(cause).__name__}: {cause}")
    except ray.exceptions.RayError as e:
        return _record(shot, "failed", stamp, error=f"Ray: {type(e).__name__}: {str(e).splitlines()[0]}")
    if "error" in outcome:
        return _record(shot, "failed", stamp, host=outcome["host"], error=outcome["error"])
    return _record(
        shot, "done", stamp, report=outcome["report"], seconds=outcome["seconds"], host=outcome["host"]
    )


class _ProgressTracker:
    """A Ray actor: frames done per shot, sent by the shots' tasks, read by the driver."""

    def __init__(self):
        self.done: dict[str, int] = {}

    def update(self, name: str, frames: int) -> None:
        self.done[name] = frames

    def snapshot(self) -> dict[str, int]:
        return dict(self.done)


def _let_ray_interrupt() -> None:
    """Let ``ray.cancel`` stop the shot this worker runs (``_stop``). Ray interrupts a running task as if SIGINT had
    come, which does nothing where SIGINT is ignored: it is, in every process of a batch started in the background
    by a shell without job control (``nohup inpainterz batch ... &``, or from a Makefile's recipe so started), and
    the shot then ran on to its end, or was killed 10 s later with its scratch folder left behind."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) in (
        signal.SIG_IGN,
        signal.SIG_DFL,
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _remove_shot(shot: Shot, frames: int, tracker) -> dict:
    """One shot, in a Ray worker: ``pipeline.remove``, its progress sent to ``tracker`` as frames done.

    User errors come back as {"error": line, "host": ...}; a bug raises (Ray hands its traceback to the driver).
    """
    from . import pipeline

    _let_ray_interrupt()
    fractions = {"track": 0.0, "inpaint": 0.0}  # tracking and inpainting each count for half the frames
    sent = -1

    def report_progress(stage: str, done: int, total: int) -> None:
        nonlocal sent
        if stage in fractions and total > 0:
            fractions[stage] = done / total
            now = int(frames * (fractions["track"] + fractions["inpaint"]) / 2)
            if now != sent:
                tracker.update.remote(shot.name, now)
                sent = now

    t0 = time.perf_counter()
    try:
        report = pipeline.remove(
            shot.input, shot.prompts, shot.settings, shot.output, progress=report_progress
        )
    except InpainterzError as e:
        return {"error": str(e), "host": socket.gethostname()}
    except OSError as e:  # disk full, permission denied: one line, as the CLI says it
        return {"error": f"{e.strerror or e}: {e.filename or ''}".rstrip(": "), "host": socket.gethostname()}
    return {"report": report, "seconds": time.perf_counter() - t0, "host": socket.gethostname()}


# -- the table ----------------------------------------------------------------------------------------------


def format_table(records: list[dict]) -> str:
    """shot | frames | seconds | backends (segment/track/inpaint) | status | error, one line per shot."""
    rows = [("shot", "frames", "seconds", "segment/track/inpaint", "status", "error")]
    for r in records:
        rows.append(
            (
                r["name"],
                "" if r["frames"] is None else str(r["frames"]),
                "" if r["seconds"] is None else f"{r['seconds']:.1f}",
                "/".join(r["backends"][stage] for stage in ("segment", "track", "inpaint"))
                if r["backends"]
                else "",
                r["status"],
                r["error"] or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]  # the error column is last
    lines = []
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)
