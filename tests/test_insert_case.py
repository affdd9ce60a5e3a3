"""bench/insert_case.py: an insert case made from any clip is a case `inpainterz eval` reads, with the badge
exactly where its masks say."""

import cv2
import numpy as np

from bench.insert_case import make_case, played_faster, read_frames, write_video
from inpainterz_core import evaluate
from inpainterz_core.demo import PanClip


def test_a_case_made_from_a_clip_is_read_by_eval_and_its_masks_are_the_badge(tmp_path):
    clip = PanClip(frames=8, width=320, height=180)
    write_video(tmp_path / "clip.mp4", [clip.frame(i) for i in range(clip.frames)], 25.0)
    make_case(tmp_path / "clip.mp4", tmp_path / "case", seed=3, count=6)

    (case,) = evaluate.find_cases([tmp_path / "case"])
    assert case.kind == "insert" and case.background is not None
    masks = np.stack([case.truth[i] for i in range(len(case.truth))])
    assert masks.shape == (6, 180, 320) and all(m.any() for m in masks)
    x, y = case.prompt.points[0].x, case.prompt.points[0].y
    assert masks[0][int(y), int(x)]  # the click is on the badge
    composite, _ = read_frames(tmp_path / "case" / "input.mp4", 6)
    background, _ = read_frames(tmp_path / "case" / "background.mp4", 6)
    for n in range(6):
        diff = np.abs(composite[n].astype(int) - background[n]).max(axis=2)
        inside, outside = diff[masks[n]], diff[~masks[n]]
        assert np.median(inside) > 20  # the badge is there
        assert np.median(outside) <= 2  # and nowhere else (up to the codec)


def test_an_attached_badge_rides_the_ground_under_it(tmp_path):
    """--attach: the badge moves with the clip's own motion (here a pan), so what it hides stays hidden."""
    clip = PanClip(frames=30, width=320, height=180)  # a pan of about 8 px a frame
    write_video(tmp_path / "clip.mp4", [clip.background(i) for i in range(clip.frames)], 25.0)
    make_case(tmp_path / "clip.mp4", tmp_path / "case", seed=3, count=8, attach=True)

    (case,) = evaluate.find_cases([tmp_path / "case"])
    assert case.kind == "attach"
    background, _ = read_frames(tmp_path / "case" / "background.mp4", 8)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in background]
    centres = [np.argwhere(case.truth[i]).mean(axis=0)[::-1] for i in range(8)]  # (x, y)
    for n in range(1, 8):
        (dx, dy), _ = cv2.phaseCorrelate(grey[n - 1], grey[n])  # how far the ground moved
        ground = np.array([dx, dy])
        assert np.linalg.norm(ground) > 2  # the clip does pan
        # within 3 px of the frame's mean move: the clip also zooms in 1 % a frame, so the ground under the
        # badge moves a little unlike the frame's mean (a badge left behind would be off by the whole pan)
        assert np.linalg.norm(centres[n] - centres[n - 1] - ground) < 3.0


def test_a_clip_played_faster_goes_there_and_back_in_steps_of_its_speed():
    """--speed 2: every second frame, forward then back, as many frames as asked for."""
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    played = [int(f[0, 0, 0]) for f in played_faster(frames, 2, 12)]
    assert played == [0, 2, 4, 6, 8, 6, 4, 2, 0, 2, 4, 6]
