"""How much of a real object's corrected score the tracker loses, and how much the keyframes' cuts do.

``inpainterz eval`` scores a real case's masks from its prompt and with a corrected keyframe every
15 frames (the truth's interior point and box, cut by the segmenter). This tracks the same
case from the same keyframes once more with the true masks themselves as the keyframes' cuts: what the tracker
makes of perfect cuts. Where that is little better than the corrected score, better cuts cannot lift it, and
the tracker is what to work on::

    python -m bench.keyframe_bound CASE... [--out DIR]

Prints, per case, J&F with corrected keyframes (cut by the segmenter) and with the true masks as those
keyframes, and the mean J of the frames just after each keyframe (what the tracker keeps of a perfect mask one
frame on).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from inpainterz_core import backends, pipeline
from inpainterz_core.evaluate import corrected_prompts, load_case, score_run
from inpainterz_core.settings import Settings
from inpainterz_core.video import open_video


def true_keyframes(case) -> pipeline.Keyframes:
    """The truth's label map (object id 1) on each frame ``corrected_prompts`` prompts."""
    frames = sorted({prompt.frame for prompt in corrected_prompts(case).objects})
    return pipeline.Keyframes({f: case.truth[f].astype(np.uint8) for f in frames})


def bound(case, out: Path) -> dict:
    """The case tracked into ``out/cut`` from its corrected keyframes as the segmenter cuts them and into
    ``out/truth`` from the true masks on the same frames; their J&F, and the mean J of the frames right after a
    true keyframe."""
    settings = Settings(backend="classical")
    keyframes = true_keyframes(case)
    with open_video(case.input) as source:
        cuts = pipeline.segment_keyframes(source, corrected_prompts(case), backends.make_segmenter(settings))
        pipeline.track(source, cuts, settings, out / "cut")
        pipeline.track(source, keyframes, settings, out / "truth")
    cut = score_run(case, out / "cut" / "masks", None)[0]
    truth = score_run(case, out / "truth" / "masks", None)[0]
    after = [f + 1 for f in keyframes if f + 1 < case.truth.frames and f + 1 not in keyframes]
    return {
        "cut": cut["JF"],
        "truth": truth["JF"],
        "after": float(np.mean([truth["J_frames"][f] for f in after])) if after else None,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="keep the masks here (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="keyframe-bound-") as scratch:
        root = args.out or Path(scratch)
        print(
            "| case | J&F corrected (cut) | J&F corrected (true keyframes) | J a frame after a true keyframe |"
        )
        print("|---|---|---|---|")
        for folder in args.cases:
            case = load_case(folder)
            r = bound(case, root / folder.name)
            after = "-" if r["after"] is None else f"{r['after']:.3f}"
            print(f"| {folder.name} | {r['cut']:.3f} | {r['truth']:.3f} | {after} |", flush=True)


if __name__ == "__main__":
    main()
