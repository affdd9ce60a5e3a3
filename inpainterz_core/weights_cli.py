"""`inpainterz weights list|fetch|verify [NAME]`: see, download and check the model checkpoints.

The main CLI mounts this with ``add_weights_parser(subparsers)`` and calls
``args.func(args)``; ``run_weights_command`` runs it on its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import weights
from .errors import InpainterzError


def add_weights_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``weights`` command (with list/fetch/verify) to an argparse subparsers object."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--ckpt-dir",
        default=None,
        help="checkpoint folder (default: $INPAINTERZ_CKPT_DIR, else ckpt/ in the repository)",
    )
    parser = subparsers.add_parser("weights", help="list, download and check the model checkpoints")
    actions = parser.add_subparsers(dest="weights_command", required=True)
    actions.add_parser("list", parents=[common], help="every checkpoint, its licence and whether it is here")
    names = ", ".join(weights.REGISTRY)
    for action, help_text in (
        ("fetch", "download a checkpoint (all when no name is given), resuming a partial download"),
        ("verify", "check a present checkpoint's size, hash, keys and shapes (all present ones by default)"),
    ):
        sub = actions.add_parser(action, parents=[common], help=help_text)
        sub.add_argument("name", nargs="?", help=f"one of {names}")
    parser.set_defaults(func=handle_weights)
    return parser


def handle_weights(args: argparse.Namespace) -> int:
    """Run a parsed ``weights`` command; user errors become one line on stderr and exit code 1."""
    try:
        if args.weights_command == "list":
            return _list(args.ckpt_dir)
        names = [weights.get(args.name).name] if args.name else list(weights.REGISTRY)
        if args.weights_command == "fetch":
            return _fetch(names, args.ckpt_dir)
        return _verify(names, args.ckpt_dir, only_present=args.name is None)
    except InpainterzError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def run_weights_command(argv: list[str]) -> int:
    """``inpainterz weights <argv>`` without the main CLI; returns the exit code."""
    parser = argparse.ArgumentParser(prog="inpainterz")
    add_weights_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["weights", *argv])
    except SystemExit as e:  # argparse has printed its usage message
        return int(e.code or 0)
    return args.func(args)


def _list(ckpt_dir) -> int:
    folder = Path(ckpt_dir) if ckpt_dir is not None else weights.default_ckpt_dir()
    print(f"checkpoints in {folder} (set INPAINTERZ_CKPT_DIR or --ckpt-dir for another folder)\n")
    width = max(len(e.name) for e in weights.list_entries())
    for entry in weights.list_entries():
        size = f"{entry.size / 1e6:.1f} MB" if entry.size is not None else "size ?"
        state = "present" if weights.present(entry.name, ckpt_dir) else "missing"
        flag = "  NON-COMMERCIAL" if not entry.commercial_use else ""
        print(f"{entry.name:<{width}} {entry.file_name:<28} {size:>9}  {state:<7}  {entry.licence}{flag}")
        print(f"{'':<{width}} {entry.description} [{entry.used_by}]")
        for url in entry.urls:
            print(f"{'':<{width}} {url}")
    non_commercial = [e for e in weights.list_entries() if not e.commercial_use]
    if non_commercial:
        print(
            f"\nNON-COMMERCIAL: {', '.join(e.name for e in non_commercial)} may not be used commercially "
            f"({', '.join(sorted({e.licence for e in non_commercial}))}); "
            "for commercial work use the classical inpainting backend."
        )
    return 0


def _fetch(names: list[str], ckpt_dir) -> int:
    failed = 0
    for name in names:
        entry = weights.get(name)
        try:
            path = weights.fetch(name, ckpt_dir, progress=sys.stderr.isatty())
        except InpainterzError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        except KeyboardInterrupt:
            print(f"error: interrupted; fetch {name} again to resume {entry.file_name}", file=sys.stderr)
            return 1
        print(f"{name}: {path}")
        if not entry.commercial_use:
            print(f"note: {name} is {entry.licence}: NON-COMMERCIAL use only", file=sys.stderr)
    return 1 if failed else 0


def _verify(names: list[str], ckpt_dir, only_present: bool) -> int:
    failed = 0
    for name in names:
        if only_present and not weights.present(name, ckpt_dir):
            print(f"{name}: missing ({weights.path_for(name, ckpt_dir)}), not checked")
            continue
        problems = weights.verify(name, ckpt_dir)
        for problem in problems:
            print(f"error: {name}: {problem}", file=sys.stderr)
        if problems:
            failed += 1
        else:
            print(f"{name}: OK ({weights.path_for(name, ckpt_dir)})")
    return 1 if failed else 0
