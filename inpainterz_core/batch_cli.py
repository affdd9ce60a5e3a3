"""`inpainterz batch SHOTS.json`: many shots at once on Ray, here or on a cluster (see ``batch``).

The main CLI mounts this with ``add_batch_parser(subparsers)`` and calls ``args.func(args)``;
its ``main`` turns an ``InpainterzError`` into one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import batch

SHOTS_HELP = """SHOTS.json: {"shots": [{"name": "sh010", "input": "sh010.mp4", "output": "out/sh010",
"prompts": [{"frame": 0, "points": [[x, y, 1]], "box": [x0, y0, x1, y1]}], "settings": {"dilate": 6}}, ...]}
Relative paths are relative to the file; "output" defaults to ROOT/NAME; "settings" takes the
fields of Settings (backend, segmenter, tracker, dilate, reach, device, fp16, ckpt_dir, inpaint_model, ...).
Every path must be the same on each machine of the cluster (shared storage)."""


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _not_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None


def _retries(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number 0 or more, not {text!r}")
    return int(text)


def add_batch_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``batch`` command to an argparse subparsers object."""
    text = "remove objects from many shots at once, on this machine or a Ray cluster"
    p = subparsers.add_parser(
        "batch",
        help=text,
        description=text,
        epilog=SHOTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bar")
    p.add_argument("shots", type=Path, metavar="SHOTS.json", help="the shots, their prompts and settings")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="ROOT",
        help=f'where shots without an "output" go (ROOT/NAME) and {batch.REPORT_NAME} '
        "(default: the folder of SHOTS.json)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="join a running Ray cluster: auto (the one this machine is part of) or ray://HOST:10001; "
        "by default Ray starts on this machine for this command",
    )
    p.add_argument(
        "--cpus-per-shot",
        type=_positive,
        default=1.0,
        metavar="C",
        help="CPU cores Ray reserves for each shot (default 1)",
    )
    p.add_argument(
        "--gpus-per-shot",
        type=_not_negative,
        default=None,
        metavar="G",
        help="GPUs for each shot (0.5 shares one between two); default: 1 for a shot that may run a "
        "model (backend auto or model, device not cpu) when the cluster has GPUs, else 0",
    )
    p.add_argument(
        "--retries",
        type=_retries,
        default=2,
        metavar="N",
        help="re-run a shot whose worker process died up to N times (default 2)",
    )
    p.add_argument("--force", action="store_true", help="redo shots that are already finished")
    p.set_defaults(func=run_batch)
    return p


class _Bar:
    """One tqdm bar on stderr over all the shots' frames, made when the first figures arrive."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="batch", unit="frame", file=sys.stderr, dynamic_ncols=True)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_batch(args: argparse.Namespace) -> int:
    """Run a parsed ``batch`` command: the table on stdout, exit code 1 when any shot failed."""
    root = args.output if args.output is not None else args.shots.parent
    shots = batch.load_shots(args.shots, root)
    report_path = root / batch.REPORT_NAME
    bar = _Bar(getattr(args, "quiet", False))
    try:
        records = batch.run(
            shots,
            args.address,
            cpus_per_shot=args.cpus_per_shot,
            gpus_per_shot=args.gpus_per_shot,
            retries=args.retries,
            force=args.force,
            report_path=report_path,
            progress=bar,
        )
    except (
        KeyboardInterrupt
    ):  # Ctrl+C or SIGTERM: the shots still running were stopped, the finished ones stay
        bar.close()
        print(
            "inpainterz: interrupted: the shots that had finished are kept; the same command goes on with "
            "the others",
            file=sys.stderr,
        )
        return (
            130  # also for SIGTERM: inside ray.wait Ray turns the CLI's Terminated into a KeyboardInterrupt
        )
    finally:
        bar.close()
    print(batch.format_table(records))
    counts = {status: sum(r["status"] == status for r in records) for status in ("done", "skipped", "failed")}
    print(
        f"{counts['done']} done, {counts['skipped']} skipped (finished earlier), {counts['failed']} failed "
        f"-> {report_path}"
    )
    return 1 if counts["failed"] else 0
