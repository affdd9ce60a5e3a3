"""The `inpainterz` command line: remove | segment | track | inpaint | eval | batch | serve | weights.

Every user error ends as one line on stderr and a non-zero exit code; a
traceback means a bug in Inpainterz.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from .errors import InpainterzError, InputError
from .prompts import ObjectPrompt, Point, Prompts, TextPrompt
from .settings import BACKENDS, Settings

log = logging.getLogger("inpainterz")


# -- argument parsing ----------------------------------------------------------------------------------


def _numbers(text: str, count: tuple[int, ...], what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in count:
        raise argparse.ArgumentTypeError(
            f"{what} must be {' or '.join(str(c) for c in count)} comma-separated numbers, not {text!r}"
        )
    return values


def point_arg(text: str) -> Point:
    values = _numbers(text, (2, 3), "--point X,Y[,LABEL]")
    label = int(values[2]) if len(values) == 3 else 1
    if label not in (0, 1):
        raise argparse.ArgumentTypeError(f"--point label must be 1 (positive) or 0 (negative), not {label}")
    return Point(values[0], values[1], label)


def box_arg(text: str) -> tuple[float, float, float, float]:
    return tuple(_numbers(text, (4,), "--box X0,Y0,X1,Y1"))


def _add_prompt_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--point",
        type=point_arg,
        action="append",
        default=[],
        metavar="X,Y[,LABEL]",
        help="a click in full-resolution pixels of the frame as it is displayed (rotation applied; origin "
        "top-left); LABEL 1 = object (default), 0 = not",
    )
    p.add_argument(
        "--box",
        type=box_arg,
        metavar="X0,Y0,X1,Y1",
        help="a box around the object (over its cast shadow too, to remove that)",
    )
    p.add_argument(
        "--frame", type=int, default=0, help="the frame the prompts (and --text) are on (default 0)"
    )
    p.add_argument(
        "--prompts",
        type=Path,
        metavar="JSON",
        help='several objects or keyframes: [{"frame": 0, "object_id": 1, "points": [[x, y, 1]], '
        '"box": [x0, y0, x1, y1]}, ...]',
    )
    defaults = TextPrompt("-")
    p.add_argument(
        "--text",
        metavar="PHRASES",
        help="name the objects, phrases separated by '.', e.g. 'logo . boom mic': a detector (Grounding DINO) "
        "finds them on --frame; clicks there refine a found object (inside its box) or add one",
    )
    p.add_argument(
        "--box-threshold",
        type=float,
        default=defaults.box_threshold,
        metavar="T",
        help=f"--text: the least score a found box needs, 0 < T <= 1 (default {defaults.box_threshold:g})",
    )
    p.add_argument(
        "--text-threshold",
        type=float,
        default=defaults.text_threshold,
        metavar="T",
        help=f"--text: the least score its phrase needs, 0 < T <= 1 (default {defaults.text_threshold:g})",
    )
    p.add_argument(
        "--detect-every",
        type=int,
        default=0,
        metavar="N",
        help="--text: look again every N frames (both ways from --frame), so objects that enter later are "
        "removed too (default 0: only on --frame)",
    )


def _add_settings_arguments(p: argparse.ArgumentParser) -> None:
    from . import registry

    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="model backends when their weights are present (auto), or force one kind",
    )
    p.add_argument(
        "--dilate",
        type=int,
        default=Settings.dilate,
        metavar="PX",
        help="paint out PX pixels past the object's soft edge (blur, glow), which each frame's mask is grown "
        f"over as far as it shows (default {Settings.dilate})",
    )
    p.add_argument(
        "--reach",
        type=int,
        default=Settings.reach,
        metavar="FRAMES",
        help="classical inpainting: frames each way to look for hidden background; 32 recovers "
        f"more under slow-moving objects, at about 2/3 the speed (default {Settings.reach})",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (model backends)")
    p.add_argument("--fp16", action="store_true", help="half precision on CUDA (model backends)")
    p.add_argument("--ckpt-dir", help="checkpoint folder (default: $INPAINTERZ_CKPT_DIR, else ckpt/)")
    for flag, stage, what in (
        ("--detector", "detect", "finds the objects --text names"),
        ("--segmenter", "segment", "turns clicks into masks"),
        ("--tracker", "track", "carries the masks through the clip"),
        ("--inpaint-model", "inpaint", "paints the masked area"),
    ):
        p.add_argument(
            flag,
            choices=registry.choices(stage),
            default=registry.AUTO,
            metavar="NAME",
            help=f"the model that {what}: {', '.join(registry.choices(stage))} (default auto: the "
            f"first whose weights are present, else "
            + ("none: --text needs one)" if stage not in registry.CLASSICAL else "the classical backend)"),
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpainterz", description="Remove objects from video.")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", "-v", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, func, prompts=True):
        """A subcommand taking INPUT, -o OUTDIR, the settings and (unless told) the prompts."""
        p = commands.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
        )
        p.add_argument("input", type=Path, help="a video file or a folder of numbered images")
        p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
        if prompts:
            _add_prompt_arguments(p)
        _add_settings_arguments(p)
        p.set_defaults(func=func)
        return p

    command("remove", "segment, track and paint out the prompted objects", run_remove)
    command("segment", "the prompted frame's mask only", run_segment)
    command("track", "masks for every frame from the prompts", run_track)
    inpaint = command(
        "inpaint",
        "paint out given masks (one 8-bit, or 16-bit id, mask per frame)",
        run_inpaint,
        prompts=False,
    )
    inpaint.add_argument(
        "--masks",
        type=Path,
        required=True,
        metavar="DIR",
        help="one mask per frame: 000000.png, 000001.png, ... (0 = keep, other = paint out)",
    )

    from inpainterz_server.app import add_serve_parser

    from .batch_cli import add_batch_parser
    from .evaluate_cli import add_eval_parser
    from .weights_cli import add_weights_parser

    add_serve_parser(commands)
    add_weights_parser(commands)
    add_eval_parser(commands)
    add_batch_parser(commands)
    return parser


def prompts_from_args(args) -> Prompts:
    """Clicks and boxes from --point/--box and --prompts, and the --text prompt.

    A --prompts file is a list of object prompts, or ``{"objects": [...], "text": {"text": ...}}``.
    """
    objects = []
    text = None
    if args.prompts is not None:
        try:
            items = json.loads(args.prompts.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read prompts from {args.prompts}: {e}") from None
        if isinstance(items, dict):
            if items.get("text") is not None:
                text = TextPrompt.from_dict(items["text"])
            items = items.get("objects", [] if "text" in items else [items])
        try:
            objects += [ObjectPrompt.from_dict(item) for item in items]
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise InputError(f"{args.prompts}: malformed prompt ({e})") from None
    if args.point or args.box:
        objects.append(ObjectPrompt(frame=args.frame, points=tuple(args.point), box=args.box))
    if args.text is not None:
        text = TextPrompt(
            args.text,
            frame=args.frame,
            box_threshold=args.box_threshold,
            text_threshold=args.text_threshold,
            detect_every=args.detect_every,
        )
    if not objects and text is None:
        raise InputError(
            "no prompts: give --point X,Y and/or --box X0,Y0,X1,Y1, or --text 'PHRASES' (or --prompts FILE)"
        )
    return Prompts(tuple(objects), text)


def settings_from_args(args) -> Settings:
    return Settings(
        backend=args.backend,
        dilate=args.dilate,
        reach=args.reach,
        device=args.device,
        fp16=args.fp16,
        ckpt_dir=args.ckpt_dir,
        segmenter=args.segmenter,
        tracker=args.tracker,
        inpaint_model=args.inpaint_model,
        detector=args.detector,
    )


class ProgressBars:
    """One tqdm bar per stage on stderr; silent with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(
                total=total, desc=stage, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=True
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self):
        for bar in self._bars.values():
            bar.close()


# -- commands ------------------------------------------------------------------------------------------


def run_remove(args) -> int:
    from . import pipeline

    bars = ProgressBars(args.quiet)
    try:
        report = pipeline.remove(
            args.input, prompts_from_args(args), settings_from_args(args), args.output, progress=bars
        )
    finally:
        bars.close()
    s = report["seconds"]
    print(
        f"{report['frames']} frames -> {args.output} (segment {s['segment']:.1f}s, track {s['track']:.1f}s, "
        f"inpaint {s['inpaint']:.1f}s; peak memory {report['peak_rss_mb']:.0f} MB)"
    )
    return 0


def run_segment(args) -> int:
    from . import pipeline
    from .outputs import staged, write_png
    from .video import frame_name, open_video

    settings = settings_from_args(args)
    prompts = prompts_from_args(args)
    with open_video(args.input) as source:
        t0 = time.perf_counter()
        keyframes, segmenter, _ = pipeline.segment_prompts(source, prompts, settings)
        with staged(args.output, ["masks"]) as scratch:
            (scratch / "masks").mkdir()
            for frame, labels in keyframes.items():
                write_png(scratch / "masks" / frame_name(frame), labels)
    for o in keyframes.objects if prompts.text is not None else ():
        found = f"{o['phrase']!r} ({o['score']:.2f})" if o["phrase"] is not None else "clicked"
        print(f"object {o['object_id']}: {found}, box {o['box']} on frame {o['first_frame']}")
    print(
        f"{len(keyframes)} mask(s) -> {args.output / 'masks'} ({time.perf_counter() - t0:.2f}s, "
        f"{segmenter.name})"
    )
    return 0


def run_track(args) -> int:
    from . import pipeline
    from .video import open_video

    settings = settings_from_args(args)
    prompts = prompts_from_args(args)
    bars = ProgressBars(args.quiet)
    with open_video(args.input) as source:
        keyframes, segmenter, detector = pipeline.segment_prompts(source, prompts, settings)
        try:
            report = pipeline.track(
                source,
                keyframes,
                settings,
                args.output,
                progress=bars,
                text=prompts.text,
                detector=detector,
                segmenter=segmenter,
            )
        finally:
            bars.close()
    print(
        f"{report['frames']} masks -> {report['masks']} ({report['seconds']:.1f}s, {report['backend']['name']})"
    )
    return 0


def run_inpaint(args) -> int:
    from . import pipeline

    bars = ProgressBars(args.quiet)
    try:
        report = pipeline.inpaint(
            args.input, args.masks, settings_from_args(args), args.output, progress=bars
        )
    finally:
        bars.close()
    print(
        f"{report['frames']} frames -> {args.output} ({report['seconds']:.1f}s, {report['backend']['name']})"
    )
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout`` and process managers send), raised where Ctrl+C would be."""


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "quiet"):
        args.quiet = False
    if args.command not in ("serve",):
        logging.basicConfig(
            stream=sys.stderr,
            level=logging.INFO if args.verbose else logging.WARNING,
            format="inpainterz: %(message)s",
        )
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = (
        signal.signal(signal.SIGTERM, _raise_terminated)
        if in_main_thread and args.command != "serve"
        else None
    )
    try:
        return args.func(args)
    except InpainterzError as e:
        print(f"inpainterz: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl+C or SIGTERM: the scratch folders are gone by now
        print("inpainterz: interrupted: no output was written", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    except OSError as e:  # disk full, permission denied mid-run: still one line
        print(f"inpainterz: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
