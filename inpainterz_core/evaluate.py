"""`inpainterz eval`: run the pipeline on cases with known truth, score it and check the quality goals.

A case is a folder (see ../shared/clips/README.md): ``input.mp4``; ``gt_masks.npz``, the object's
true masks, bit-packed; ``case.json`` with the prompt, ``source_clip`` (the clip without the object:
the true background, in the case's folder or the one above it), ``mode`` (insert or attach),
``background_truth`` (false for a real object, whose masks only are scored) and the per-frame Telea
reference figures. Any folder in that format is a case; a folder of such folders is a set of cases.

Each case runs ``pipeline.remove`` with its prompt and default classical settings (what every
install runs), then every measure is taken in one streamed pass over the frames: J and F of the
masks, PSNR inside the true mask pooled over all frames, ``hole_temporal_err`` (flicker against the
true background's own change), the share of pixels outside the truth grown by 15 px left exactly as
the input, and the same PSNR and flicker for per-frame Telea where ``case.json`` lacks them.
A real-object case runs a second time with a corrected keyframe every 15 frames, as an editor would add.
The tracker's ``check_frames`` (frames it doubts) are compared with the frames whose mask is bad.

``--masks-only`` (track, score the masks) and ``--truth-masks`` (inpaint the true masks, score the fills)
run one half of the pipeline, for work on that half; only the goals a run measures are judged.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import backends, pipeline
from .errors import InputError
from .masks import bounding_box, dilate, padded_box
from .metrics import RegionScores
from .outputs import staged, write_png
from .prompts import ObjectPrompt, Point, Prompts
from .settings import Settings
from .video import frame_name, open_video, read_mask

# The goals of issue #10, for every case with a true background (insert, attach) ...
MIN_JF = 0.90
MIN_GAIN_DB = 1.0  # hole PSNR over per-frame Telea's, each case
MIN_MEAN_GAIN_DB = 4.0  # ... and on average over the cases
MIN_OUTSIDE_IDENTICAL = 1.0
# ... and for real objects, from the prompt alone and with a corrected keyframe every CORRECTION_EVERY frames.
MIN_REAL_JF = 0.50
MIN_REAL_JF_CORRECTED = 0.65
CORRECTION_EVERY = 15

BAD_J = 0.5  # a frame whose mask has a lower J is bad: the tracker's check_frames should name it
OUTSIDE_GROW = 15  # px: outside-identical is measured outside the truth grown by this much
TELEA_GROW = 3  # px: Telea paints the truth dilated by a 7x7 ellipse ...
TELEA_RADIUS = 5  # ... with this radius, frame by frame
SHEET_FRAMES = 4  # rows in a contact sheet
SHEET_HEIGHT = 180  # px per row


# -- cases --------------------------------------------------------------------------------------------


class TruthMasks:
    """A case's true masks, kept bit-packed (a few MB) and unpacked one frame at a time."""

    def __init__(self, path: Path):
        try:
            with np.load(path) as data:
                self._packed = data["masks"]
                self.frames, self.height, self.width = (int(v) for v in data["shape"])
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"{path}: not a masks file with 'masks' and 'shape' ({e})") from None
        if self._packed.shape != (self.frames, self.height, (self.width + 7) // 8):
            raise InputError(
                f"{path}: packed masks {self._packed.shape} do not match shape "
                f"{self.frames}x{self.height}x{self.width}"
            )

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, i: int) -> np.ndarray:
        return np.unpackbits(self._packed[i], axis=-1, count=self.width).astype(bool)


@dataclass
class Case:
    name: str
    folder: Path
    info: dict  # case.json
    kind: str  # insert | attach | real
    prompt: ObjectPrompt
    truth: TruthMasks
    background: Path | None  # the source clip; None for a real object

    @property
    def input(self) -> Path:
        return self.folder / "input.mp4"


def find_cases(paths: list[Path]) -> list[Case]:
    """Each path is a case folder, or a folder whose sub-folders holding a case.json are cases."""
    folders = []
    for path in map(Path, paths):
        if (path / "case.json").is_file():
            folders.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if (p / "case.json").is_file())
            if not found:
                raise InputError(
                    f"{path} holds no case (a folder with case.json, input.mp4 and gt_masks.npz)"
                )
            folders += found
        else:
            raise InputError(f"{path} is not a case folder (no case.json) nor a folder of cases")
    cases = [load_case(folder) for folder in folders]
    names = [c.name for c in cases]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"two cases are named {twice[0]}: their results would share a folder; rename one")
    return cases


def load_case(folder: Path) -> Case:
    """Read and check a case folder up front, so a bad case fails in a second, not after a long run."""
    try:
        info = json.loads((folder / "case.json").read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{folder / 'case.json'}: cannot read it ({e})") from None
    if not isinstance(info, dict) or "prompt" not in info:
        raise InputError(f'{folder / "case.json"}: a case needs a \'prompt\' ({{"frame", "points", "box"}})')
    truth = TruthMasks(folder / "gt_masks.npz")
    try:
        prompt = ObjectPrompt.from_dict(info["prompt"])
        prompt.check_inside(truth.width, truth.height, truth.frames)
    except InputError as e:
        raise InputError(f"{folder / 'case.json'}: {e}") from None
    real = info.get("background_truth", True) is False
    kind = "real" if real else str(info.get("mode", "insert"))
    background = None if real else _source_clip(folder, info)
    case = Case(folder.name, folder, info, kind, prompt, truth, background)
    for path in [case.input] + ([background] if background else []):
        with open_video(path) as clip:
            if (clip.frame_count, clip.height, clip.width) != (truth.frames, truth.height, truth.width):
                raise InputError(
                    f"{path} is {clip.frame_count} frames of {clip.width}x{clip.height}, its case's "
                    f"masks {truth.frames} of {truth.width}x{truth.height}"
                )
    return case


def _source_clip(folder: Path, info: dict) -> Path:
    name = info.get("source_clip")
    if not isinstance(name, str):
        raise InputError(
            f"{folder / 'case.json'}: no 'source_clip' (the clip without the object); "
            'a real object without one says "background_truth": false'
        )
    for place in (folder, folder.parent):
        if (place / name).is_file():
            return place / name
    raise InputError(f"{folder}: source clip {name} is neither in the case's folder nor beside it")


def interior_prompt(mask: np.ndarray, frame: int) -> ObjectPrompt:
    """What an editor adds on a frame: a click on the mask pixel farthest from its border, and its box."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    x0, y0, x1, y1 = bounding_box(mask)
    return ObjectPrompt(
        frame=frame,
        points=(Point(float(x), float(y), 1),),
        box=(float(x0), float(y0), float(x1 - 1), float(y1 - 1)),
    )


# -- measures -----------------------------------------------------------------------------------------


class TemporalError:
    """hole_temporal_err: mean over frames t >= 1 of mean |(out_t - out_t-1) - (gt_t - gt_t-1)| in the truth of t."""

    def __init__(self):
        self.errors: list[float] = []
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, output: np.ndarray, truth_frame: np.ndarray, hole: np.ndarray) -> None:
        if self._previous is not None and hole.any():
            out_before, gt_before = self._previous
            change = output[hole].astype(np.int16) - out_before[hole]
            true_change = truth_frame[hole].astype(np.int16) - gt_before[hole]
            self.errors.append(float(np.abs(change - true_change).mean()))
        self._previous = (output, truth_frame)

    def value(self) -> float | None:
        return float(np.mean(self.errors)) if self.errors else None


def telea(image: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The reference fill: OpenCV Telea of this frame alone, on the truth grown by a 7x7 ellipse."""
    hole = dilate(truth, TELEA_GROW).astype(np.uint8)
    return cv2.inpaint(image, hole, TELEA_RADIUS, cv2.INPAINT_TELEA) if hole.any() else image


@dataclass
class _Tally:
    """Everything measured over one streamed pass of a case."""

    masks: RegionScores = field(default_factory=RegionScores)
    corrected: RegionScores = field(default_factory=RegionScores)
    fill: RegionScores = field(default_factory=RegionScores)
    flicker: TemporalError = field(default_factory=TemporalError)
    telea_fill: RegionScores = field(default_factory=RegionScores)
    telea_flicker: TemporalError = field(default_factory=TemporalError)
    outside_same: int = 0
    outside_total: int = 0


def score_run(
    case: Case, masks: Path | None, result: Path | None, corrected: Path | None = None
) -> tuple[dict, list[list]]:
    """Score a finished run: its mask PNGs (``masks``: J, F; None: not scored), its result frames (``result``:
    the fill's figures, where the case has a true background) and the masks tracked with corrected keyframes.
    Returns the figures and a contact sheet's rows: evenly spaced frames, plus the frame whose mask is worst."""
    fills = result is not None and case.background is not None
    need_telea = fills and not all(k in case.info for k in ("telea_hole_psnr", "telea_temporal_err"))
    sheet_frames = set(np.linspace(0, case.truth.frames - 1, SHEET_FRAMES).round().astype(int).tolist())
    tally, rows = _Tally(), {}

    def mask(folder: Path | None, i: int) -> np.ndarray | None:
        return read_mask(folder / frame_name(i)) > 0 if folder is not None else None

    with contextlib.ExitStack() as stack:
        given = stack.enter_context(open_video(case.input))
        results = stack.enter_context(open_video(result)) if result is not None else None
        clean = stack.enter_context(open_video(case.background)) if case.background is not None else None
        streams = [given.frames()] + [s.frames() for s in (results, clean) if s is not None]
        for frames in zip(*streams, strict=True):
            i, before = frames[0]
            after = frames[1][1] if results is not None else None
            background = frames[-1][1] if clean is not None else None
            truth, tracked, fixed = case.truth[i], mask(masks, i), mask(corrected, i)
            if tracked is not None:
                tally.masks.add_masks(tracked, truth)
            if fixed is not None:
                tally.corrected.add_masks(fixed, truth)
            if fills:
                outside = ~dilate(truth, OUTSIDE_GROW)
                tally.outside_same += int((after[outside] == before[outside]).all(axis=-1).sum())
                tally.outside_total += int(outside.sum())
                tally.fill.add_pixels(after, background, truth)
                tally.flicker.add(after, background, truth)
            if need_telea:
                reference = telea(before, truth)
                tally.telea_fill.add_pixels(reference, background, truth)
                tally.telea_flicker.add(reference, background, truth)
            if i in sheet_frames:
                rows[i] = _sheet_row(i, before, tracked, after, truth, background, fixed, tally)
        worst = int(np.argmin(tally.masks.j)) if tally.masks.j else None
        if worst is not None and worst not in rows:  # read again, at random: the pass above kept no frames
            rows[worst] = _sheet_row(
                worst,
                given.read(worst),
                mask(masks, worst),
                results.read(worst) if results is not None else None,
                case.truth[worst],
                clean.read(worst) if clean is not None else None,
                mask(corrected, worst),
                tally,
            )
            rows[worst][0] = (f"input {worst}, lowest J", rows[worst][0][1])
    return _figures(case, tally, fills), [rows[i] for i in sorted(rows)]


def _figures(case: Case, tally: _Tally, fills: bool) -> dict:
    figures = {}
    if tally.masks.j:
        scores = tally.masks.summary()
        figures.update(
            J=scores["J"], F=scores["F"], JF=scores["JF"], J_frames=[round(j, 4) for j in tally.masks.j]
        )
    if tally.corrected.j:
        figures["JF_corrected"] = tally.corrected.summary()["JF"]
        figures["J_frames_corrected"] = [round(j, 4) for j in tally.corrected.j]
    if not fills:
        return figures
    figures["hole_psnr"] = tally.fill.summary().get("hole_psnr")
    figures["temporal_err"] = tally.flicker.value()
    figures["outside_identical"] = tally.outside_same / tally.outside_total if tally.outside_total else 1.0
    computed = {
        "telea_hole_psnr": tally.telea_fill.summary().get("hole_psnr"),
        "telea_temporal_err": tally.telea_flicker.value(),
    }
    figures["telea_computed"] = [k for k in computed if k not in case.info]
    for key, value in computed.items():
        figures[key] = case.info.get(key, value)
    if figures["hole_psnr"] is not None and figures["telea_hole_psnr"] is not None:
        figures["gain_db"] = figures["hole_psnr"] - figures["telea_hole_psnr"]
    return figures


# -- goals ----------------------------------------------------------------------------------------------


def case_goals(kind: str, figures: dict) -> list[dict]:
    """The goals one case must meet, of those its run measured (all in a whole run), each with its value."""

    def goal(name, value, met):
        return {"goal": name, "value": value, "met": bool(value is not None and met(value))}

    goals = []
    if "JF" in figures:
        least = MIN_REAL_JF if kind == "real" else MIN_JF
        goals.append(goal(f"J&F >= {least:.2f}", figures["JF"], lambda v: v >= least))
    if "JF_corrected" in figures:
        goals.append(
            goal(
                f"J&F with a keyframe every {CORRECTION_EVERY} frames >= {MIN_REAL_JF_CORRECTED:.2f}",
                figures["JF_corrected"],
                lambda v: v >= MIN_REAL_JF_CORRECTED,
            )
        )
    if "hole_psnr" in figures:
        telea_err = figures["telea_temporal_err"]
        goals += [
            goal(
                f"hole PSNR >= Telea + {MIN_GAIN_DB:g} dB", figures.get("gain_db"), lambda v: v >= MIN_GAIN_DB
            ),
            goal(
                "temporal err below Telea's",
                figures["temporal_err"],
                lambda v: telea_err is not None and v < telea_err,
            ),
            goal(
                f"outside-identical = {MIN_OUTSIDE_IDENTICAL:g}",
                figures["outside_identical"],
                lambda v: v >= MIN_OUTSIDE_IDENTICAL,
            ),
        ]
    return goals


def overall_goals(results: list[dict]) -> list[dict]:
    """Goals over all cases: the mean gain over Telea of the cases with a true background."""
    gains = [r["gain_db"] for r in results if r.get("gain_db") is not None]
    if not gains:
        return []
    mean = float(np.mean(gains))
    return [
        {
            "goal": f"mean gain over Telea >= +{MIN_MEAN_GAIN_DB:g} dB",
            "value": mean,
            "met": mean >= MIN_MEAN_GAIN_DB,
        }
    ]


# -- running ---------------------------------------------------------------------------------------------


#: What a run does: the whole removal (the goals), or one half of it, for work on that half.
PARTS = {
    "all": "Whole removal from each case's prompt, masks and fills scored",
    "masks": "Masks only (segment and track from each case's prompt, no inpainting)",
    "fills": "Fills only (the true masks inpainted, no tracking)",
}


def run_cases(cases: list[Case], out_dir: Path, part: str = "all", log=print) -> dict:
    """Run and score every case; writes ``table.md``, ``table.json`` and ``sheets/<case>.png`` into ``out_dir``
    (each run's own outputs go to ``runs/<case>/``). Returns the table as a dict; ``met`` says if all goals are."""
    settings = Settings(backend="classical")  # the defaults: what every install runs
    out_dir = Path(out_dir)
    results = []
    with staged(out_dir, ["table.md", "table.json", "sheets"]) as scratch:
        (scratch / "sheets").mkdir()
        for n, case in enumerate(cases, 1):
            if part == "fills" and case.background is None:
                log(f"[{n}/{len(cases)}] {case.name}: no true background, no fill to score: skipped")
                continue
            log(
                f"[{n}/{len(cases)}] {case.name} ({case.kind}, {case.truth.frames} frames of "
                f"{case.truth.width}x{case.truth.height}) ..."
            )
            result, rows = run_case(case, out_dir / "runs", settings, part)
            write_png(scratch / "sheets" / f"{case.name}.png", contact_sheet(rows))
            results.append(result)
            log(f"[{n}/{len(cases)}] {case.name}: {_one_line(result)}")
        table = {
            "part": part,
            "settings": settings.to_dict(),
            "cases": results,
            "overall": overall_goals(results),
        }
        table["met"] = all(g["met"] for r in results for g in r["goals"]) and all(
            g["met"] for g in table["overall"]
        )
        (scratch / "table.json").write_text(json.dumps(_finite(table), indent=2))
        (scratch / "table.md").write_text(markdown(table))
    return table


def run_case(case: Case, runs_dir: Path, settings: Settings, part: str = "all") -> tuple[dict, list[list]]:
    """Run one case (``part`` of the pipeline, see PARTS) into ``runs_dir/<case>/`` and score it; a real object
    is also tracked with corrected keyframes into ``runs_dir/<case>-corrected/``."""
    run_dir = runs_dir / case.name
    if part == "fills":
        with staged(run_dir, ["truth-masks"]) as scratch:
            (scratch / "truth-masks").mkdir()
            for i in range(case.truth.frames):
                write_png(scratch / "truth-masks" / frame_name(i), case.truth[i].astype(np.uint8))
    t0 = time.perf_counter()
    if part == "all":
        pipeline.remove(case.input, Prompts((case.prompt,)), settings, run_dir)
    elif part == "masks":
        _track(case, Prompts((case.prompt,)), settings, run_dir)
    else:
        pipeline.inpaint(case.input, run_dir / "truth-masks", settings, run_dir)
    seconds = time.perf_counter() - t0
    corrected = None
    if case.kind == "real" and part != "fills":
        prompts = corrected_prompts(case)
        _track(case, prompts, settings, runs_dir / f"{case.name}-corrected")
        corrected = runs_dir / f"{case.name}-corrected" / "masks"
    figures, rows = score_run(
        case,
        run_dir / "masks" if part != "fills" else None,
        run_dir / "inpainted" if part != "masks" else None,
        corrected,
    )
    result = {
        "case": case.name,
        "folder": str(case.folder),
        "kind": case.kind,
        "frames": case.truth.frames,
        "width": case.truth.width,
        "height": case.truth.height,
        **figures,
        "seconds": seconds,
        "run": str(run_dir),
    }
    if corrected is not None:
        result["corrected_keyframes"] = prompts.keyframes()
    if part != "fills":
        result.update(_flags(run_dir / "track.json", figures["J_frames"]))
    result["goals"] = case_goals(case.kind, figures)
    result["met"] = all(g["met"] for g in result["goals"])
    return result, rows


def _flags(track_json: Path, j_frames: list[float]) -> dict:
    """How well the tracker's own confidence points an editor at the frames whose mask is bad (J < BAD_J)."""
    try:
        check = json.loads(track_json.read_text())["check_frames"]
    except (OSError, ValueError, KeyError):
        return {}  # a tracker from before track.json
    return {"check_frames": check, "bad_frames": [i for i, j in enumerate(j_frames) if j < BAD_J]}


def _track(case: Case, prompts: Prompts, settings: Settings, out_dir: Path) -> None:
    """Segment the prompted frames and track from them: ``out_dir/masks/``, as ``remove`` makes them."""
    with open_video(case.input) as source:
        keyframes = pipeline.segment_keyframes(source, prompts, backends.make_segmenter(settings))
        pipeline.track(source, keyframes, settings, out_dir)


def corrected_prompts(case: Case) -> Prompts:
    """The case's prompt plus, every CORRECTION_EVERY frames, the truth's interior point and box."""
    objects = [case.prompt]
    for frame in range(case.prompt.frame + CORRECTION_EVERY, case.truth.frames, CORRECTION_EVERY):
        truth = case.truth[frame]
        if truth.any():
            objects.append(interior_prompt(truth, frame))
    return Prompts(tuple(objects))


# -- reporting -------------------------------------------------------------------------------------------


def _finite(value):
    """JSON has no infinity (a perfect fill's PSNR): write null for it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _share(value: float) -> str:
    """A share to 4 decimals, rounded down: 0.99996 is not shown as 1 (the goal is exactly 1)."""
    return "1" if value == 1 else f"{math.floor(value * 1e4) / 1e4:.4f}"


def _jf(r: dict) -> str:
    text = _num(r.get("JF"), ".3f")
    return text + (f" / {r['JF_corrected']:.3f} corrected" if "JF_corrected" in r else "")


def _fill_cells(r: dict) -> list[str]:
    """hole PSNR, Telea's, the gain, temporal err (Telea's) and outside-identical, or dashes."""
    if "hole_psnr" not in r:
        return ["-"] * 5
    return [
        _num(r["hole_psnr"], ".2f"),
        _num(r["telea_hole_psnr"], ".2f"),
        _num(r.get("gain_db"), "+.2f"),
        f"{_num(r['temporal_err'], '.2f')} ({_num(r['telea_temporal_err'], '.2f')})",
        _share(r["outside_identical"]),
    ]


def _flagged(r: dict) -> str:
    """Of the frames whose mask is bad, how many the tracker flagged; and how many good ones it flagged."""
    if "check_frames" not in r:
        return "-"
    bad, check = set(r["bad_frames"]), set(r["check_frames"])
    return f"{len(bad & check)}/{len(bad)} (+{len(check - bad)} good)"


def _verdict(r: dict) -> str:
    missed = [g["goal"] for g in r["goals"] if not g["met"]]
    return "missed: " + "; ".join(missed) if missed else "met"


def _one_line(r: dict) -> str:
    psnr, telea_psnr, gain, flicker, outside = _fill_cells(r)
    fills = (
        (
            f", hole PSNR {psnr} dB (Telea {telea_psnr}, gain {gain}), temporal err {flicker}, "
            f"outside-identical {outside}"
        )
        if "hole_psnr" in r
        else ""
    )
    return f"J&F {_jf(r)}{fills}, {r['seconds']:.1f} s; goals {_verdict(r)}"


def markdown(table: dict) -> str:
    """The table as Markdown: what ran, one row per case, then the goals over all cases."""
    lines = [
        f"{PARTS[table['part']]}; classical backend, default settings.",
        "",
        "| case | kind | J&F | hole PSNR | per-frame Telea | gain | temporal err (Telea) | outside-identical "
        "| bad masks (J < 0.5) flagged | seconds | goals |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table["cases"]:
        cells = [
            r["case"],
            r["kind"],
            _jf(r),
            *_fill_cells(r),
            _flagged(r),
            f"{r['seconds']:.1f}",
            _verdict(r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for g in table["overall"]:
        lines.append(f"{g['goal']}: {g['value']:+.2f} dB ({'met' if g['met'] else 'missed'})")
    lines.append("all goals met" if table["met"] else "GOALS MISSED")
    return "\n".join(lines) + "\n"


def _outline(image: np.ndarray, mask: np.ndarray, colour) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(image, contours, -1, colour, 1)


def _tinted(image: np.ndarray, mask: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The mask tinted red, the truth's outline in green."""
    out = image.copy()
    out[mask] = (0.45 * out[mask] + 0.55 * np.array([255, 40, 40])).astype(np.uint8)
    return _outline(out, truth, (40, 255, 40))


def _sheet_row(
    i, before, mask, after, truth, background, corrected, tally: _Tally
) -> list[tuple[str, np.ndarray]]:
    """input | mask (red, truth outlined green) | mask with corrected keyframes | result | truth, those there are;
    then the result and the truth zoomed to the object, where a small object would hide the fill's flaws."""
    row = [(f"input {i}", before)]
    if mask is not None:
        row.append((f"mask J {tally.masks.j[i]:.2f}", _tinted(before, mask, truth)))
    if corrected is not None:
        row.append((f"corrected keyframes J {tally.corrected.j[i]:.2f}", _tinted(before, corrected, truth)))
    if after is not None:
        row.append(("result", after))
    row.append(("truth", background if background is not None else _tinted(before, truth, truth)))
    box = bounding_box(truth)
    if after is not None and box is not None:
        pad = max(16, (box[2] - box[0] + box[3] - box[1]) // 4)
        x0, y0, x1, y1 = padded_box(box, pad, truth.shape[1], truth.shape[0], min_size=64)
        row += [("result, zoomed", after[y0:y1, x0:x1]), ("truth, zoomed", row[-1][1][y0:y1, x0:x1])]
    return row


def contact_sheet(rows: list[list[tuple[str, np.ndarray]]]) -> np.ndarray:
    """Labelled images, each row scaled to SHEET_HEIGHT, rows stacked."""
    lines = []
    for row in rows:
        tiles = []
        for label, image in row:
            width = round(image.shape[1] * SHEET_HEIGHT / image.shape[0])
            tile = cv2.resize(image, (width, SHEET_HEIGHT), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, label, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, label, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(np.pad(tile, ((0, 2), (0, 2), (0, 0))))
        lines.append(np.hstack(tiles))
    width = max(line.shape[1] for line in lines)
    return np.vstack([np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines])
