"""`inpainterz eval`: cases made here from the generated pan clip (exact masks and background) in the format
of ../shared/clips; the scoring is checked on hand-made runs whose figures are known exactly."""

from __future__ import annotations

import dataclasses
import json
import math

import av
import numpy as np
import pytest

from inpainterz_core import evaluate
from inpainterz_core.cli import main
from inpainterz_core.demo import PanClip, click_prompt
from inpainterz_core.masks import dilate
from inpainterz_core.outputs import write_png
from inpainterz_core.video import Mp4Writer, frame_name, open_video

FRAMES = 20


@pytest.fixture(scope="module")
def clip() -> PanClip:
    return PanClip(frames=FRAMES, width=192, height=108)


def write_case(folder, clip: PanClip, prompt: dict, **info) -> None:
    """A case folder as ../shared/clips/README.md defines it, without Telea figures unless given."""
    folder.mkdir(parents=True)
    for name, frame in (("input.mp4", clip.frame), ("background.mp4", clip.background)):
        with Mp4Writer(folder / name, clip.width, clip.height, 25.0, crf=10) as video:
            for i in range(clip.frames):
                video.write(frame(i))
    masks = np.stack([clip.mask(i) for i in range(clip.frames)])
    np.savez_compressed(
        folder / "gt_masks.npz", masks=np.packbits(masks, axis=-1), shape=np.array(masks.shape)
    )
    case = {
        "source_clip": "background.mp4",
        "frames": clip.frames,
        "width": clip.width,
        "height": clip.height,
        "fps": 25.0,
        "prompt": prompt,
        **info,
    }
    (folder / "case.json").write_text(json.dumps(case))


@pytest.fixture(scope="module")
def cases(tmp_path_factory, clip):
    """A folder of three cases: the logo clicked as a user would, a click on the background instead, and
    the logo as a real object (masks only, no background truth)."""
    root = tmp_path_factory.mktemp("cases")
    prompt = click_prompt(clip).to_dict()
    write_case(root / "pan", clip, prompt)
    write_case(root / "pan-wrong-click", clip, {"frame": 0, "points": [[12, 98, 1]], "box": [2, 90, 30, 106]})
    write_case(root / "pan-real", clip, prompt, background_truth=False)
    (root / "pan-real" / "background.mp4").unlink()
    return root


@pytest.fixture(scope="module")
def evaluated(cases, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    code = main(["eval", str(cases), "--out", str(out)])
    return code, out, json.loads((out / "table.json").read_text())


# -- the command, end to end ---------------------------------------------------------------------------------


def test_eval_runs_every_case_in_a_folder_and_writes_table_sheets_and_runs(evaluated):
    code, out, table = evaluated
    assert [c["case"] for c in table["cases"]] == ["pan", "pan-real", "pan-wrong-click"]
    text = (out / "table.md").read_text()
    for case in table["cases"]:
        assert f"| {case['case']} | {case['kind']} |" in text
        assert len(list((out / "runs" / case["case"] / "masks").iterdir())) == FRAMES
        spaced = np.linspace(0, FRAMES - 1, evaluate.SHEET_FRAMES).round()
        rows = evaluate.SHEET_FRAMES + (np.argmin(case["J_frames"]) not in spaced)  # + the worst mask's frame
        assert len(case["J_frames"]) == FRAMES and np.mean(case["J_frames"]) == pytest.approx(
            case["J"], abs=1e-4
        )
        with open_video(out / "sheets" / f"{case['case']}.png") as sheet:
            assert sheet.height == rows * (evaluate.SHEET_HEIGHT + 2)
            columns = 5 if case["kind"] == "real" else 4  # input, mask, [corrected mask,] result, truth
            tile = round(192 * evaluate.SHEET_HEIGHT / 108) + 2
            assert sheet.width > columns * tile  # and the result and truth zoomed to the logo
    assert table["cases"][0]["seconds"] > 0


def test_eval_exits_1_when_a_case_misses_its_goals(evaluated):
    code, out, table = evaluated
    wrong = table["cases"][2]
    assert wrong["JF"] < 0.5  # the background was clicked, not the logo
    assert not wrong["met"] and not wrong["goals"][0]["met"]
    assert "missed: J&F >= 0.90" in (out / "table.md").read_text()
    assert table["met"] is False and code == 1


def test_each_goal_is_judged_on_its_figure(evaluated):
    _, _, table = evaluated
    for case in table["cases"]:
        assert case["goals"] == evaluate.case_goals(case["kind"], case)
        assert case["met"] == all(g["met"] for g in case["goals"])
    gains = [c["gain_db"] for c in table["cases"] if c["kind"] != "real"]
    assert table["overall"] == [
        {
            "goal": "mean gain over Telea >= +4 dB",
            "value": pytest.approx(np.mean(gains)),
            "met": bool(np.mean(gains) >= 4),
        }
    ]


def test_a_real_object_is_scored_on_masks_with_and_without_corrected_keyframes(evaluated):
    _, out, table = evaluated
    real = table["cases"][1]
    assert real["kind"] == "real" and "hole_psnr" not in real and "outside_identical" not in real
    assert real["corrected_keyframes"] == [0, 15]
    assert 0 <= real["JF_corrected"] <= 1
    assert [g["goal"] for g in real["goals"]] == [
        "J&F >= 0.50",
        "J&F with a keyframe every 15 frames >= 0.65",
    ]
    assert len(list((out / "runs" / "pan-real-corrected" / "masks").iterdir())) == FRAMES


def test_the_trackers_flags_are_compared_with_the_bad_masks(evaluated):
    _, out, table = evaluated
    for case in table["cases"]:
        track = json.loads((out / "runs" / case["case"] / "track.json").read_text())
        assert case["check_frames"] == track["check_frames"]
        assert case["bad_frames"] == [i for i, j in enumerate(case["J_frames"]) if j < 0.5]
    wrong = table["cases"][2]
    flagged = len(set(wrong["bad_frames"]) & set(wrong["check_frames"]))
    others = len(set(wrong["check_frames"]) - set(wrong["bad_frames"]))
    assert f"| {flagged}/{len(wrong['bad_frames'])} (+{others} good) |" in (out / "table.md").read_text()


def test_telea_is_computed_where_case_json_lacks_it(evaluated):
    _, _, table = evaluated
    pan = table["cases"][0]
    assert pan["telea_computed"] == ["telea_hole_psnr", "telea_temporal_err"]
    assert 10 < pan["telea_hole_psnr"] < 40 and 0 < pan["telea_temporal_err"] < 50
    assert pan["gain_db"] == pytest.approx(pan["hole_psnr"] - pan["telea_hole_psnr"])


def test_exit_code_0_when_every_goal_is_met(cases, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "MIN_JF", -math.inf)  # a masks-only run judges J&F alone
    code = main(["eval", str(cases / "pan-wrong-click"), "--masks-only", "--out", str(tmp_path / "out")])
    stdout = capsys.readouterr().out
    assert "| pan-wrong-click | insert |" in stdout and "all goals met" in stdout  # the table, on stdout too
    assert code == 0 and json.loads((tmp_path / "out" / "table.json").read_text())["met"] is True


def test_masks_only_tracks_and_scores_the_masks(cases, tmp_path):
    assert main(
        ["eval", str(cases / "pan"), str(cases / "pan-real"), "--masks-only", "--out", str(tmp_path)]
    ) in (0, 1)
    table = json.loads((tmp_path / "table.json").read_text())
    pan, real = table["cases"]
    assert table["part"] == "masks" and table["overall"] == []
    assert "hole_psnr" not in pan and [g["goal"] for g in pan["goals"]] == ["J&F >= 0.90"]
    assert len(real["goals"]) == 2 and "JF_corrected" in real
    assert not (tmp_path / "runs" / "pan" / "inpainted").exists()
    assert (tmp_path / "table.md").read_text().startswith("Masks only")


def test_truth_masks_scores_the_fill_apart_from_tracking(cases, tmp_path):
    main(
        [
            "eval",
            str(cases / "pan-wrong-click"),
            str(cases / "pan-real"),
            "--truth-masks",
            "--out",
            str(tmp_path),
        ]
    )
    table = json.loads((tmp_path / "table.json").read_text())
    [wrong] = table["cases"]  # the real object has no true background to score a fill against
    assert "JF" not in wrong and len(wrong["goals"]) == 3  # the prompt plays no part
    assert wrong["gain_db"] == pytest.approx(wrong["hole_psnr"] - wrong["telea_hole_psnr"])
    assert len(list((tmp_path / "runs" / "pan-wrong-click" / "truth-masks").iterdir())) == FRAMES


# -- the measures, on hand-made runs ------------------------------------------------------------------------------


def fake_run(case: evaluate.Case, folder, fill) -> None:
    """A run folder as remove writes it: the true masks and ``fill(i, input, background)`` as the result."""
    (folder / "masks").mkdir(parents=True)
    (folder / "inpainted").mkdir()
    with open_video(case.input) as given, open_video(case.background) as truth:
        for (i, before), (_, background) in zip(given.frames(), truth.frames(), strict=True):
            write_png(folder / "masks" / frame_name(i), case.truth[i].astype(np.uint8))
            write_png(folder / "inpainted" / frame_name(i), fill(i, before, background))


def test_a_perfect_run_scores_perfectly(cases, tmp_path):
    case = evaluate.load_case(cases / "pan")

    def perfect(i, before, background):
        hole = dilate(case.truth[i], 4)
        return np.where(hole[..., None], background, before)

    fake_run(case, tmp_path / "run", perfect)
    figures, rows = evaluate.score_run(case, tmp_path / "run" / "masks", tmp_path / "run" / "inpainted")
    assert (figures["J"], figures["F"], figures["JF"]) == (1.0, 1.0, 1.0)
    assert figures["hole_psnr"] == math.inf and figures["temporal_err"] == 0.0
    assert figures["outside_identical"] == 1.0
    assert len(rows) == evaluate.SHEET_FRAMES
    assert [label for label, _ in rows[0]] == [
        "input 0",
        "mask J 1.00",
        "result",
        "truth",
        "result, zoomed",
        "truth, zoomed",
    ]


def test_hole_psnr_and_outside_identical_are_exact(cases, tmp_path):
    case = evaluate.load_case(cases / "pan")
    outside = sum(int((~dilate(case.truth[i], evaluate.OUTSIDE_GROW)).sum()) for i in range(FRAMES))

    def off_by_10(i, before, background):
        out = before.copy()
        hole = case.truth[i]
        shifted = np.where(
            background < 128, background.astype(np.int16) + 10, background.astype(np.int16) - 10
        )
        out[hole] = shifted[hole]
        if i == 3:
            out[0, 0] = 255 - out[0, 0]  # one pixel far outside the logo
        return out

    fake_run(case, tmp_path / "run", off_by_10)
    figures, _ = evaluate.score_run(case, tmp_path / "run" / "masks", tmp_path / "run" / "inpainted")
    assert figures["hole_psnr"] == pytest.approx(20 * math.log10(255 / 10))
    assert figures["outside_identical"] == pytest.approx(1 - 1 / outside)
    assert evaluate.case_goals("insert", figures)[3]["met"] is False


def test_stored_telea_figures_are_used_and_missing_ones_computed(cases, tmp_path):
    case = evaluate.load_case(cases / "pan")
    case = dataclasses.replace(case, info={**case.info, "telea_hole_psnr": 99.0})
    fake_run(case, tmp_path / "run", lambda i, before, background: before)
    figures, _ = evaluate.score_run(case, tmp_path / "run" / "masks", tmp_path / "run" / "inpainted")
    assert figures["telea_hole_psnr"] == 99.0 and figures["telea_computed"] == ["telea_temporal_err"]
    assert figures["gain_db"] == pytest.approx(figures["hole_psnr"] - 99.0)
    assert figures["telea_temporal_err"] > 0


def test_temporal_error_compares_the_fills_change_with_the_backgrounds():
    err = evaluate.TemporalError()
    gt = [np.full((4, 4, 3), v, np.uint8) for v in (100, 110, 120, 130)]
    hole = np.zeros((4, 4), bool)
    hole[1:3, 1:3] = True
    err.add(gt[0], gt[0], hole)  # frame 0: no change to compare
    err.add(gt[1] + 4, gt[1], hole)  # the fill moved 14, the background 10: error 4
    err.add(gt[2], gt[2], np.zeros((4, 4), bool))  # an empty mask: skipped
    err.add(gt[3], gt[3], hole)  # same change as the background: 0
    assert err.errors == [4.0, 0.0] and err.value() == 2.0


def test_goals():
    good = {
        "JF": 0.95,
        "hole_psnr": 20.0,
        "gain_db": 1.5,
        "temporal_err": 2.0,
        "telea_temporal_err": 3.0,
        "outside_identical": 1.0,
    }
    assert all(g["met"] for g in evaluate.case_goals("insert", good))
    for key, bad in (("JF", 0.89), ("gain_db", 0.9), ("temporal_err", 3.0), ("outside_identical", 0.99999)):
        goals = evaluate.case_goals("attach", {**good, key: bad})
        assert [g["met"] for g in goals].count(False) == 1, key
    assert len(evaluate.case_goals("insert", {"JF": 0.95})) == 1  # a masks-only run: the fills are not judged
    real = evaluate.case_goals("real", {"JF": 0.55, "JF_corrected": 0.64})
    assert [g["met"] for g in real] == [True, False]
    assert evaluate.overall_goals([{"gain_db": 5.0}, {"gain_db": 2.9}, {"JF": 0.1}])[0]["met"] is False
    assert evaluate.overall_goals([{"gain_db": 5.0}, {"gain_db": 3.0}])[0]["met"] is True


# -- bad cases: one line each ------------------------------------------------------------------------------------


def test_a_folder_without_cases_is_one_line(tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert "holds no case" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_case_whose_masks_do_not_match_its_video_is_refused(cases, tmp_path, capsys):
    folder = tmp_path / "short"
    folder.mkdir()
    for name in ("input.mp4", "background.mp4", "case.json"):
        (folder / name).write_bytes((cases / "pan" / name).read_bytes())
    masks = np.zeros((FRAMES - 1, 108, 192), bool)
    np.savez(folder / "gt_masks.npz", masks=np.packbits(masks, axis=-1), shape=np.array(masks.shape))
    assert main(["eval", str(folder), "--out", str(tmp_path / "out")]) == 1
    assert "masks 19 of 192x108" in capsys.readouterr().err


def test_a_missing_source_clip_is_named(cases, tmp_path, capsys):
    folder = tmp_path / "nosource"
    folder.mkdir()
    for name in ("input.mp4", "gt_masks.npz", "case.json"):
        (folder / name).write_bytes((cases / "pan" / name).read_bytes())
    assert main(["eval", str(folder), "--out", str(tmp_path / "out")]) == 1
    assert "source clip background.mp4" in capsys.readouterr().err


def test_a_bad_prompt_is_refused_before_any_run(cases, tmp_path, capsys):
    folder = tmp_path / "offframe"
    folder.mkdir()
    for name in ("input.mp4", "background.mp4", "gt_masks.npz"):
        (folder / name).write_bytes((cases / "pan" / name).read_bytes())
    info = json.loads((cases / "pan" / "case.json").read_text())
    (folder / "case.json").write_text(
        json.dumps({**info, "prompt": {"frame": FRAMES, "points": [[5, 5, 1]]}})
    )
    assert main(["eval", str(cases / "pan"), str(folder), "--out", str(tmp_path / "out")]) == 1
    assert f"case.json: frame {FRAMES} is out of range" in capsys.readouterr().err
    (folder / "case.json").write_text(json.dumps({**info, "prompt": {"points": [[5, 5, 0]]}}))
    assert main(["eval", str(folder), "--out", str(tmp_path / "out")]) == 1
    assert (
        "offframe/case.json: a prompt needs a box or at least one positive point" in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


# -- the shared cases (when ../shared is here) -------------------------------------------------------------------


def test_corrected_keyframes_are_made_as_the_cases_prompts_are(shared_clips):
    """The interior point and box of real-tennis's frame 0 truth are the case's own prompt."""
    case = evaluate.load_case(shared_clips / "eval" / "real-tennis")
    assert evaluate.interior_prompt(case.truth[0], 0) == case.prompt


@pytest.mark.slow
def test_telea_reproduces_the_stored_figures(shared_clips):
    """The baseline computed where a case.json lacks it is the one the cases were published with.

    The published figures were made on frames decoded by swscale's default rounding (about a grey level
    dark; read exactly, as the product now reads, attach-desert's Telea scores 16.154 dB against 16.18),
    so the frames are decoded that way here: this checks the method, not the decoder."""
    case = evaluate.load_case(shared_clips / "eval" / "attach-desert")
    fill, flicker = evaluate.RegionScores(), evaluate.TemporalError()

    def default_decode(path):
        with av.open(str(path)) as clip:
            yield from enumerate(f.to_ndarray(format="rgb24") for f in clip.decode(video=0))

    for (i, before), (_, background) in zip(
        default_decode(case.input), default_decode(case.background), strict=True
    ):
        reference = evaluate.telea(before, case.truth[i])
        fill.add_pixels(reference, background, case.truth[i])
        flicker.add(reference, background, case.truth[i])
    assert fill.summary()["hole_psnr"] == pytest.approx(case.info["telea_hole_psnr"], abs=0.005)
    assert flicker.value() == pytest.approx(case.info["telea_temporal_err"], abs=0.005)
