"""`inpainterz eval CASE... [--out DIR] [--masks-only | --truth-masks]`: score the classical pipeline on cases
with known truth.

The main CLI mounts this with ``add_eval_parser(subparsers)`` and calls ``args.func(args)``, which
turns an ``InpainterzError`` into one line. Exit code 0 when every case meets its goals, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import evaluate


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``eval`` command to an argparse subparsers object."""
    text = "run every case (a folder with input.mp4, gt_masks.npz, case.json) and check the quality goals"
    p = subparsers.add_parser(
        "eval",
        help=text,
        description=text,
        epilog="Exit code 0 when every goal is met, 1 when one is missed or on an error. "
        "The cases' format and measures: ../shared/clips/README.md.",
    )
    p.add_argument(
        "cases", type=Path, nargs="+", metavar="CASE", help="a case folder, or a folder of case folders"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("eval-output"),
        metavar="DIR",
        help="where table.md, table.json, sheets/ and runs/ go (default eval-output)",
    )
    part = p.add_mutually_exclusive_group()
    part.add_argument(
        "--masks-only",
        dest="part",
        action="store_const",
        const="masks",
        default="all",
        help="segment and track only, score the masks (quicker, for work on the tracker)",
    )
    part.add_argument(
        "--truth-masks",
        dest="part",
        action="store_const",
        const="fills",
        help="inpaint each case's true masks and score the fills apart from tracking "
        "(for work on the inpainter; cases without a true background are skipped)",
    )
    p.set_defaults(func=run_eval)
    return p


def run_eval(args: argparse.Namespace) -> int:
    """Run a parsed ``eval`` command: progress on stderr, the table on stdout."""
    cases = evaluate.find_cases(args.cases)
    table = evaluate.run_cases(
        cases, args.out, args.part, log=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print(evaluate.markdown(table), end="")
    print(f"wrote {args.out / 'table.md'}, {args.out / 'table.json'} and {args.out / 'sheets'}/")
    return 0 if table["met"] else 1
