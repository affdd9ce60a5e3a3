"""FlowGuidedInpainter on generated clips: background revealed in other frames, and never revealed."""

from __future__ import annotations

import cv2
import numpy as np

from inpainterz_core.evaluate import TemporalError
from inpainterz_core.inpaint.classical import FlowGuidedInpainter
from inpainterz_core.inpaint.spatial import telea as _telea
from inpainterz_core.masks import dilate

H, W, T = 96, 128, 24


def hole_psnr(pred: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> float:
    err = pred[masks].astype(np.float64) - truth[masks]
    return float(10 * np.log10(255.0**2 / max(np.mean(err**2), 1e-12)))


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture: trackable, but not predictable from a hole's border."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    big = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.GaussianBlur(big, (0, 0), 1.5), 0, 255).astype(np.uint8)


def panning_clip():
    """A texture panning 3 px/frame under an opaque grey square that moves the other way (5 px/frame relative)."""
    world = texture(H, W + 3 * T)
    background = np.stack([world[:, 3 * t : 3 * t + W] for t in range(T)])
    frames, masks = background.copy(), np.zeros((T, H, W), bool)
    for t in range(T):
        x, y = 40 + 2 * t, 30
        frames[t, y : y + 28, x : x + 28] = 128
        masks[t] = dilate(np.pad(np.ones((28, 28), bool), ((y, H - y - 28), (x, W - x - 28))), 2)
    return frames, masks, background


def test_background_revealed_elsewhere_is_recovered_far_better_than_spatial_fill():
    frames, masks, background = panning_clip()
    targets = range(8, 16)
    out = FlowGuidedInpainter(reach=8).inpaint(frames, masks, targets)
    telea = np.stack(
        [cv2.inpaint(frames[k], masks[k].astype(np.uint8), 5, cv2.INPAINT_TELEA) for k in targets]
    )
    ours = hole_psnr(out, background[targets], masks[targets])
    spatial = hole_psnr(telea, background[targets], masks[targets])
    assert ours > 27 and ours > spatial + 8, (ours, spatial)


def test_shapes_dtype_and_pixels_outside_the_mask_untouched():
    frames, masks, _ = panning_clip()
    masks[10] = False  # a frame where the object is absent comes back as it was
    targets = range(6, 18)
    out = FlowGuidedInpainter(reach=4).inpaint(frames, masks, targets)
    assert out.shape == (len(targets), H, W, 3) and out.dtype == np.uint8
    outside = ~masks[targets]
    assert np.array_equal(out[outside], frames[targets][outside])
    assert np.array_equal(out[10 - targets.start], frames[10])


def test_the_fill_is_the_same_whatever_the_threads(monkeypatch):
    """The per-frame steps run on a pool of threads, as many as the machine's cores allow (up to 4): the fill
    must not depend on how many, or on which thread gets which frame, so the same clip is painted the same on a
    laptop and a server (remove() is a pure function of its inputs)."""
    from inpainterz_core.inpaint import classical

    frames, masks, _ = panning_clip()
    outs = []
    for cores in (1, 4):
        monkeypatch.setattr(classical.os, "cpu_count", lambda cores=cores: cores)
        monkeypatch.setattr(classical, "_pools", {})  # made afresh with that many workers
        outs.append(FlowGuidedInpainter(reach=8).inpaint(frames, masks, range(4, 20)))
    assert np.array_equal(outs[0], outs[1])


def test_window_without_any_hole_is_returned_unchanged():
    frames, _, _ = panning_clip()
    out = FlowGuidedInpainter(reach=3).inpaint(frames[:10], np.zeros((10, H, W), bool), range(3, 7))
    assert np.array_equal(out, frames[3:7])


def test_never_revealed_background_is_filled_plausibly_and_steadily():
    """Static camera, static object: nothing to copy, so the hole is filled spatially, not left black."""
    rng = np.random.default_rng(1)
    background = np.clip(rng.normal(150, 4, (H, W, 3)), 0, 255).astype(np.uint8)
    frames = np.repeat(background[None], 12, 0)
    masks = np.zeros((12, H, W), bool)
    masks[:, 30:60, 40:80] = True
    frames[masks] = 0
    out = FlowGuidedInpainter(reach=3).inpaint(frames, masks, range(3, 9))
    hole = out[:, 30:60, 40:80].astype(np.float64)
    assert np.isfinite(hole).all()
    assert abs(hole.mean() - 150) < 8
    assert np.abs(np.diff(hole, axis=0)).mean() < 3  # no flicker between frames


def test_a_hole_on_plain_shaded_ground_is_filled_level_with_it():
    """A badge on a plain wall that nothing ever reveals: the fill stays level with the wall. Telea alone, which the
    fill leaned on, overshoots where its fronts meet deep in the hole (a streak a few levels too bright)."""
    rng = np.random.default_rng(2)
    ys, xs = np.mgrid[:H, :W]
    wall = 200 + 0.08 * xs + 0.05 * ys  # a light wall, gently shaded
    background = np.clip(wall[..., None] + rng.normal(0, 1.0, (H, W, 3)), 0, 255).astype(np.uint8)
    frames = np.repeat(background[None], 12, 0)
    masks = np.zeros((12, H, W), bool)
    masks[:, 30:62, 24:104] = True
    frames[masks] = (220, 40, 60)
    out = FlowGuidedInpainter(reach=3).inpaint(frames, masks, range(3, 9))
    error = out[:, 30:62, 24:104].astype(np.float64) - np.floor(wall[30:62, 24:104, None])
    assert abs(error.mean()) < 1.2  # Telea alone leaned on: 2.1 levels too bright
    assert np.sqrt((error**2).mean()) < 1.6  # and 2.7


def test_single_frame_window_is_filled_spatially():
    frames, masks, _ = panning_clip()
    out = FlowGuidedInpainter(reach=0).inpaint(frames[5:6], masks[5:6], range(0, 1))
    outside = ~masks[5]
    assert np.array_equal(out[0][outside], frames[5][outside])
    assert out[0][masks[5]].std() > 5  # the flat grey object was replaced by texture from around it


def test_tracked_completion_takes_the_flow_observed_where_the_hole_point_is_next_seen():
    """A wrong guess inside the hole is replaced by the flow measured in the frame where the point shows."""
    true = np.zeros((H, W, 2), np.float32)
    true[..., 0], true[..., 1] = 3.0, -1.0
    flows = {t: true.copy() for t in range(4)}
    hidden = {t: np.zeros((H, W), bool) for t in range(5)}
    hidden[0][30:60, 40:80] = True
    flows[0][hidden[0]] = (1.0, 0.0)  # e.g. a smooth spatial guess that missed this layer's motion
    before = {t: f.copy() for t, f in flows.items()}
    out = FlowGuidedInpainter(reach=4)._tracked(flows, hidden, 1)
    assert np.allclose(out[0][hidden[0]], (3.0, -1.0))
    assert np.array_equal(out[0][~hidden[0]], before[0][~hidden[0]])
    assert np.array_equal(out[1], before[1])


def test_holes_larger_than_opencvs_map_limit():
    """cv2.remap maps are limited to 32767 per side: a 200x200 hole (40000 pixels) must still work."""
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (260, 400, 3), dtype=np.uint8), (0, 0), 2)
    frames = np.stack([np.roll(texture, 3 * t, axis=1)[:, :300] for t in range(5)])
    masks = np.zeros(frames.shape[:3], bool)
    masks[:, 30:230, 50:250] = True
    out = FlowGuidedInpainter().inpaint(frames, masks, range(1, 4))
    assert out.shape == (3, 260, 300, 3)
    np.testing.assert_array_equal(out[:, ~masks[0]], frames[1:4][:, ~masks[0]])


def test_nearest_showing_frame_per_hole_pixel():
    """Each hole pixel gets the nearest other frame that shows it, the earlier one on a tie, -1 if none."""
    hidden = {t: np.zeros((2, 3), bool) for t in range(5)}
    hidden[2][0, 0] = True  # hidden only in frame 2: frames 1 and 3 both show it, 1 wins the tie
    hidden[2][0, 1] = hidden[1][0, 1] = True  # shown by 0 (2 away) and 3 (1 away): 3
    for t in range(5):
        hidden[t][1, 2] = True  # never shown
    found = FlowGuidedInpainter._nearest_showing(list(range(5)), hidden)
    pixels, source = found[2]
    assert dict(zip(pixels.tolist(), source.tolist(), strict=True)) == {0: 1, 1: 3, 5: -1}
    pixels, source = found[1]
    assert dict(zip(pixels.tolist(), source.tolist(), strict=True)) == {1: 0, 5: -1}


def test_ring_shift_is_the_median_change_over_the_ring_pixels_the_other_frame_shows():
    rng = np.random.default_rng(0)
    flows = {t: rng.normal(0, 1, (20, 20, 2)).astype(np.float32) for t in range(2)}
    hidden = {t: np.zeros((20, 20), bool) for t in range(2)}
    hidden[1][:5] = True  # frame 1 hides the top rows: their changes must not count
    ring = np.arange(0, 400, 3)
    vectors = {t: f.reshape(-1, 2) for t, f in flows.items()}
    shift = FlowGuidedInpainter._ring_shifts(vectors, hidden, 0, ring, [1])
    shown = ring[~hidden[1].reshape(-1)[ring]]
    expected = np.median(vectors[0][shown] - vectors[1][shown], axis=0)
    np.testing.assert_allclose(shift[1], expected, rtol=1e-6)
    hidden[1][:19] = True  # 20 or fewer of the ring's pixels shown: too few to measure
    assert FlowGuidedInpainter._ring_shifts(vectors, hidden, 0, ring, [1]) == {}


def test_a_longer_reach_recovers_background_hidden_longer():
    """A static shot, an object sliding 1 px/frame: the pixels under its middle show again only
    about 14 frames away, so a reach of 4 must fill them spatially and a reach of 16 copies them."""
    background = texture(H, W, seed=4)
    frames, masks = np.repeat(background[None], 40, 0), np.zeros((40, H, W), bool)
    for t in range(40):
        masks[t, 30:58, 30 + t : 58 + t] = True
    frames[masks] = 128
    targets = range(18, 22)
    truth = np.repeat(background[None], len(targets), 0)
    short = hole_psnr(FlowGuidedInpainter(reach=4).inpaint(frames, masks, targets), truth, masks[targets])
    long = hole_psnr(FlowGuidedInpainter(reach=16).inpaint(frames, masks, targets), truth, masks[targets])
    assert long > 25 and long > short + 8, (short, long)


def test_where_the_flow_cannot_be_trusted_the_fill_is_no_worse_than_a_spatial_fill():
    """Every frame an unrelated smooth picture (a cut every frame): what other frames show at the hole's
    place is not this frame's background, so copying it is wrong; the fill must lean on the spatial
    fill there (copying alone ends 10 dB below it, at 11.6 dB against 21.7)."""
    pictures = []
    for t in range(T):
        noise = np.random.default_rng(100 + t).uniform(0, 255, (H // 16, W // 16, 3)).astype(np.float32)
        pictures.append(
            np.clip(cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
        )
    background = np.stack(pictures)
    frames, masks = background.copy(), np.zeros((T, H, W), bool)
    for t in range(T):
        x, y = 20 + 3 * t, 40
        frames[t, y : y + 16, x : x + 16] = 128
        masks[t, y - 2 : y + 18, x - 2 : x + 18] = True
    targets = range(8, 16)
    out = FlowGuidedInpainter(reach=8).inpaint(frames, masks, targets)
    telea = np.stack(
        [cv2.inpaint(frames[k], masks[k].astype(np.uint8), 5, cv2.INPAINT_TELEA) for k in targets]
    )
    ours = hole_psnr(out, background[targets], masks[targets])
    spatial = hole_psnr(telea, background[targets], masks[targets])
    assert ours > spatial - 5, (ours, spatial)


def test_where_the_flow_carries_the_background_cleanly_the_fill_is_not_pulled_towards_a_spatial_fill():
    """A coarse colour texture panning 3 px/frame: every copy lands a few frames away on exactly the right
    pixel, so the propagated fill is near perfect and mixing in Telea only blurs it. The copies' expected
    error comes from the measured per-step warp errors of the frames travelled; the old fixed prior
    (tau = 25 grey levels per copy, however exact the flow) kept a share of Telea in: 36.5 dB here, then 39.9;
    with the camera's motion as a completion of its own (the pan is one translation) 54.3."""
    speed, size = 3, 28
    noise = np.random.default_rng(0).uniform(0, 255, (H // 8, (W + speed * T) // 8, 3)).astype(np.float32)
    world = cv2.resize(noise, (W + speed * T, H), interpolation=cv2.INTER_CUBIC)
    world = np.clip(world, 0, 255).astype(np.uint8)
    background = np.stack([world[:, speed * t : speed * t + W] for t in range(T)])
    frames, masks = background.copy(), np.zeros((T, H, W), bool)
    for t in range(T):
        x, y = 40 + 2 * t, 30
        frames[t, y : y + size, x : x + size] = 128
        masks[t, y - 2 : y + size + 2, x - 2 : x + size + 2] = True
    targets = range(4, 20)
    out = FlowGuidedInpainter(reach=8).inpaint(frames, masks, targets)
    ours = hole_psnr(out, background[targets], masks[targets])
    assert ours > 38, ours


def test_an_edge_that_nothing_ever_reveals_is_continued_not_smeared():
    """A static shot of a slanted horizon (smooth sky over textured rock) under a still object: no frame
    shows what it hides, so the fill is spatial. Telea diffuses rock into sky along the hole's border
    (18.6 dB here, and so did the old fill, which was Telea); copying patches of the surroundings in
    Criminisi's order continues the horizon through the hole (21.2 dB), and steadily."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:H, 0:W]
    sky = np.stack([150 + 0.3 * yy, 190 + 0.2 * yy, np.full((H, W), 235.0)], -1)
    grain = cv2.GaussianBlur(rng.uniform(0, 255, (H, W, 3)).astype(np.float32), (0, 0), 1.2)
    rock = np.array([150, 110, 90]) + 0.6 * (grain - grain.mean())
    background = np.clip(np.where((yy > 70 - 0.5 * xx)[..., None], rock, sky), 0, 255).astype(np.uint8)
    frames, masks = np.repeat(background[None], 12, 0), np.zeros((12, H, W), bool)
    masks[:, 28:60, 44:84] = True
    frames[masks] = 128
    targets = range(3, 9)
    out = FlowGuidedInpainter(reach=3).inpaint(frames, masks, targets)
    telea = np.stack(
        [cv2.inpaint(frames[k], masks[k].astype(np.uint8), 3, cv2.INPAINT_TELEA) for k in targets]
    )
    truth = np.repeat(background[None], len(targets), 0)
    ours = hole_psnr(out, truth, masks[targets])
    spatial = hole_psnr(telea, truth, masks[targets])
    assert ours > spatial + 1.5, (ours, spatial)
    assert np.abs(np.diff(out[:, masks[3]].astype(np.float64), axis=0)).mean() < 1  # carried, not redrawn


def test_a_never_revealed_fill_of_sharp_structure_does_not_flicker_on_a_noisy_static_shot():
    """Diagonal stripes (a shirt) under a still object, camera noise only. The exemplar fill continues the
    stripes (15.2 dB against 11.9 for a Telea start) and is carried along the noisy flow; copied sharp,
    it softened frame by frame as it was resampled, a mean change of 2.8 grey levels a frame in the hole
    (Telea's start: 2.4). Softened once where it is made, it changes 2.3."""
    yy, xx = np.mgrid[0:H, 0:W]
    stripes = np.where(((xx + yy) // 8) % 2 == 0, 60.0, 200.0)[..., None] * np.array([1.0, 0.8, 0.6])
    rng = np.random.default_rng(0)
    frames = np.clip(stripes[None] + rng.normal(0, 2, (16, H, W, 3)), 0, 255).astype(np.uint8)
    masks = np.zeros((16, H, W), bool)
    masks[:, 30:62, 44:88] = True
    frames[masks] = 128
    out = FlowGuidedInpainter(reach=4).inpaint(frames, masks, range(4, 12))
    hole = out[:, masks[0]].astype(np.float64)
    assert np.abs(np.diff(hole, axis=0)).mean() < 2.5
    assert hole_psnr(out, np.repeat(stripes[None], 8, 0).astype(np.uint8), masks[4:12]) > 14


def test_a_never_revealed_fill_follows_a_change_around_it():
    """A still shot of grey stripes: a red block rests on the top edge of a still hole for the first frames,
    then is gone. The fill made on the first frame rightly takes in its red; carried along the (still) flow,
    it kept all of it for good (the red share of the hole fell 48 -> 45). Following the change around it in
    part, it lets a quarter of the red go (48 -> 36)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:H, 0:W]
    stripes = np.where(((xx + yy) // 8) % 2 == 0, 48.0, 160.0)[..., None]
    frames = np.clip(stripes[None] + rng.normal(0, 2, (20, H, W, 3)), 0, 255).astype(np.uint8)
    masks = np.zeros((20, H, W), bool)
    masks[:, 36:66, 40:90] = True
    frames[:3, 20:40, 50:80] = (220, 30, 30)  # the block, over the hole's top edge
    frames[masks] = 128
    out = FlowGuidedInpainter(reach=3).inpaint(frames, masks, range(0, 20)).astype(np.float64)
    hole = out[:, masks[0]]
    red = (hole[..., 0] - (hole[..., 1] + hole[..., 2]) / 2).mean(axis=1)  # per frame
    assert red[0] > 30  # the first frame's fill takes in the block beside it
    assert red[12:].max() < 0.85 * red[0]


def test_a_carried_fill_counts_as_further_off_where_its_surroundings_changed_beyond_the_motion():
    """A never-revealed fill carried one frame on is expected to be off by what it was, plus what changed around
    it that it did not take in: nothing, where its surroundings are as the flow brought them; more, on the side
    where something came in beside it (a girl walking behind a still badge leaves a carried fill stale)."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:H, 0:W]
    stripes = np.where(((xx + yy) // 8) % 2 == 0, 48.0, 160.0)[..., None]
    previous = np.clip(stripes + rng.normal(0, 2, (H, W, 3)), 0, 255).astype(np.uint8)
    missing = np.zeros((H, W), bool)
    missing[36:66, 40:90] = True
    was = np.full((H, W), 50.0, np.float32)  # the error expected of the previous frame's fill
    still = np.zeros((H, W, 2), np.float32)

    def carried(image):
        expected = np.full((H, W), np.inf, np.float32)
        left = FlowGuidedInpainter._carry(image, expected, missing, (previous, was), still)
        assert not left.any()  # the still flow brings every pixel from inside the previous frame
        return image, expected

    image, expected = carried(previous.copy())
    assert np.allclose(expected[missing], 50.0)  # nothing changed: as far off as it was
    assert np.array_equal(image, previous)
    now = previous.copy()
    now[30:72, 20:42] = (220, 30, 30)  # something red came in beside the hole's left side
    _, expected = carried(now)
    left, right = expected[36:66, 42:52], expected[36:66, 78:90]
    assert left.mean() > 50 + 0.64 * 60**2 / 4  # a fifth of the change taken in, the rest expected off
    assert right.mean() < 50 + (left.mean() - 50) / 4


def test_telea_on_the_holes_box_equals_telea_on_the_whole_image():
    """The fill runs Telea on the hole's box only, for speed: it must give exactly what the whole image gives,
    for holes inside the image and touching its edges, on colour, grey and float (flow) images."""
    rng = np.random.default_rng(3)
    colour = texture(H, W)
    images = [colour, cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), rng.normal(0, 3, (H, W)).astype(np.float32)]
    holes = [np.zeros((H, W), np.uint8) for _ in range(3)]
    cv2.circle(holes[0], (60, 40), 12, 1, -1)
    cv2.rectangle(holes[1], (0, 70), (20, H - 1), 1, -1)
    cv2.ellipse(holes[2], (W - 5, 10), (15, 25), 30, 0, 360, 1, -1)
    for image in images:
        for hole in holes:
            for radius in (2, 3, 5):
                whole = cv2.inpaint(image, hole, radius, cv2.INPAINT_TELEA)
                assert np.array_equal(_telea(image, hole, radius), whole)
    assert np.array_equal(_telea(colour, np.zeros((H, W), np.uint8), 3), colour)


def facade(h: int, w: int, seed: int) -> np.ndarray:
    """Rows of windows on a wall: a pattern that repeats every few pixels, each window a little different."""
    rng = np.random.default_rng(seed)
    wall = np.empty((h, w, 3), np.float32)
    wall[:] = (150, 120, 100)
    for y in range(0, h, 14):
        for x in range(0, w, 9):
            wall[y + 3 : y + 11, x + 2 : x + 6] = rng.uniform(30, 90, 3)
    wall += rng.normal(0, 4, wall.shape)
    return np.clip(cv2.GaussianBlur(wall, (0, 0), 0.7), 0, 255).astype(np.uint8)


def badge_under_a_moving_camera(world: np.ndarray, motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 frames of 160x96 seen through a camera whose frame t shows ``world`` through ``motion(t)`` (a 2x3
    map from the frame to the world), under a badge fixed on the screen: the frames, the masks (painted out a
    few pixels past the badge, as the pipeline dilates it) and the true background."""
    t_count, h, w = 40, 96, 160
    background = np.stack(
        [
            cv2.warpAffine(world, motion(t), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
            for t in range(t_count)
        ]
    )
    frames = background.copy()
    frames[:, 30:62, 30:100] = 235
    masks = np.zeros((t_count, h, w), bool)
    masks[:, 27:65, 27:103] = True
    return frames, masks, background


def test_a_camera_pan_and_zoom_over_a_facade_is_copied_through_the_camera_motion():
    """A badge fixed on the screen while the camera pans 2 px a frame and zooms in over a facade: the
    flow measured around the hole is noisy over the repeating windows, and a local fill of it carries that
    noise into the hole, where it adds up along the chains; the camera's motion fits the whole crop."""
    frames, masks, background = badge_under_a_moving_camera(
        facade(192, 360, seed=1),
        lambda t: np.float32([[1 + 0.004 * t, 0, 20 + 2 * t], [0, 1 + 0.004 * t, 40]]),
    )
    targets = range(12, 28)
    out = FlowGuidedInpainter().inpaint(frames, masks, targets)
    ours = hole_psnr(out, background[targets], masks[targets])
    telea = np.stack([_telea(frames[k], masks[k].view(np.uint8), 5) for k in targets])
    # local flow completions alone: 23.1 dB; Telea 19.2
    assert ours > 25 and ours > hole_psnr(telea, background[targets], masks[targets]) + 5, ours


def test_each_flow_completion_is_weighed_by_its_error_on_pixels_it_did_not_see():
    """A camera panning, zooming and rolling over a texture, under a badge fixed on the screen. Every
    completion guesses the motion under the badge differently; rated by how well the flow observed around
    the hole warps that ring, every local guess looked as good as the observed flow, and their drifting
    copies were mixed in as much as the camera model's (29.0 dB here). Each is now rated on the hole's
    margin, whose flow it replaced without reading it (33.8 dB)."""

    def rolling(t):
        motion = cv2.getRotationMatrix2D((80, 48), 0.2 * t, 1 + 0.004 * t)
        motion[:, 2] += (20 + 3 * t, 40)
        return motion

    frames, masks, background = badge_under_a_moving_camera(texture(192, 360, seed=3), rolling)
    targets = range(12, 28)
    out = FlowGuidedInpainter().inpaint(frames, masks, targets)
    assert hole_psnr(out, background[targets], masks[targets]) > 31.5


def temporal_err(out: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> float:
    """The eval's figure (``evaluate.TemporalError``) over a whole clip."""
    flicker = TemporalError()
    for frame, truth_frame, hole in zip(out, truth, masks, strict=True):
        flicker.add(frame, truth_frame, hole)
    return flicker.value()


def test_a_fill_is_steadied_along_the_flow_and_still_follows_a_layer_moving_behind_the_hole():
    """A still textured shot with camera noise; a dark disc passes behind a still hole, seen on either side of
    it. Each frame's fill (copies of the disc and of the texture, spatial fills) errs apart from the next
    frame's; weighed against the fill carried in from the neighbouring frames (step 7 of the module
    docstring) it flickers less: temporal err 11.9 -> 10.0, hole PSNR 15.10 -> 15.14 dB. Carried from the
    frames before only, the disc's edge is dragged behind it (15.09 dB, temporal err 10.6). With the exemplar
    fills of three patch sizes averaged (exemplar.py), 15.11 -> 14.99 dB, temporal err 10.07 -> 9.95."""
    rng = np.random.default_rng(3)
    world = texture(H, W, 3)
    yy, xx = np.mgrid[0:H, 0:W]
    background = np.empty((T, H, W, 3), np.uint8)
    for t in range(T):
        disc = (xx - (10 + 5 * t)) ** 2 + (yy - 48) ** 2 < 14**2
        background[t] = np.where(disc[..., None], (30, 30, 160), world)
    frames = np.clip(background + rng.normal(0, 2, background.shape), 0, 255).astype(np.uint8)
    masks = np.zeros((T, H, W), bool)
    masks[:, 36:62, 56:76] = True
    frames[masks] = 128
    out = FlowGuidedInpainter(reach=6).inpaint(frames, masks, range(T))
    assert temporal_err(out, background, masks) < 11
    assert hole_psnr(out, background, masks) > 14.9


def test_a_copy_that_took_a_disturbed_step_counts_for_less_than_a_farther_one_over_clean_steps():
    """A still textured shot, a still hole on frames 1-9, and a red board over the hole's place and around it
    on frames 10-11. Copies made forward land on the board, a few frames away; copies made backward land on
    the true background at frame 0, farther. The step forward onto the board misplaces the hole's margin
    badly, so a copy that took it is worth less than one that took only clean steps, however near, and the
    two copies' disagreement says little about an estimate that already leans on the certain one. Weighed
    by frames travelled alone, the near red copies outweighed the far true ones (16.1 dB, below Telea's 16.3,
    and 26 levels too red); with each copy's steps summed, 19.0 dB and 11 levels; with the steps' directions
    told apart and the disagreement weighed by how evenly the copies share the estimate, 65 dB and none."""
    background = np.repeat(texture(H, W, seed=3)[None], 12, 0)
    frames, masks = background.copy(), np.zeros((12, H, W), bool)
    masks[1:10, 36:60, 48:72] = True
    frames[masks] = 128
    frames[10:, 20:76, 32:88] = (255, 0, 0)
    targets = range(1, 10)
    out = FlowGuidedInpainter(reach=12).inpaint(frames, masks, targets)
    telea = np.stack([_telea(frames[k], masks[k].view(np.uint8), 5) for k in targets])
    ours = hole_psnr(out, background[targets], masks[targets])
    spatial = hole_psnr(telea, background[targets], masks[targets])
    too_red = float(
        (out[masks[targets]][:, 0].astype(np.float32) - background[targets][masks[targets]][:, 0]).mean()
    )
    assert ours > spatial + 20 and abs(too_red) < 2, (ours, spatial, too_red)


def test_copies_more_uncertain_than_a_made_up_fill_are_made_up_from_the_real_surroundings_too():
    """A still shot of shaded texture, a still hole on frames 0-9, and on frames 10-11 its ring revealed under a
    green walker who covers the hole's place and its margin, while its middle stays hidden. The ring's only copies
    land on the walker, after a step that misplaces the margin badly: they are expected to be further off than a
    made-up fill. Made up from a border of those copies, the middle was green too, and the four completions'
    estimates, each as unsure, counted as four draws: 12.9 dB, below Telea's 14.8, 74 levels too green. Made up
    with the ring from the hole's real surroundings, and averaged with the ring's copies by their expected errors:
    15.7 dB, and no tint."""
    tex = texture(H, W, seed=3).astype(np.float32)
    shade = np.linspace(60, 200, H)[:, None, None]
    background = np.repeat(np.clip(shade + tex - tex.mean(), 0, 255).astype(np.uint8)[None], 12, 0)
    frames, masks = background.copy(), np.zeros((12, H, W), bool)
    masks[:10, 32:64, 48:80] = True
    masks[10:, 42:54, 58:70] = True  # nothing reveals the middle
    frames[10:, 28:68, 44:84] = (40, 200, 40)
    frames[masks] = 128
    targets = range(10)
    out = FlowGuidedInpainter(reach=12).inpaint(frames, masks, targets)
    telea = np.stack([_telea(frames[k], masks[k].view(np.uint8), 5) for k in targets])
    ours = hole_psnr(out, background[targets], masks[targets])
    spatial = hole_psnr(telea, background[targets], masks[targets])
    filled, truth = (
        out[masks[targets]].astype(np.float32),
        background[targets][masks[targets]].astype(np.float32),
    )
    too_green = float(((filled[:, 1] - filled[:, 0]) - (truth[:, 1] - truth[:, 0])).mean())
    assert ours > spatial + 0.5 and abs(too_green) < 10, (ours, spatial, too_green)


def test_a_fill_nothing_reveals_is_made_up_again_along_the_shot_and_averaged():
    """Random colour textures panning 2 px a frame with camera noise, a badge riding them (so nothing under it is
    ever revealed). A made-up fill is one draw of what the hole hides, and the exemplar fill's greedy order
    makes each draw differ; made once on the first frame and carried, the fill gained +1.13 dB over per-frame
    Telea on these eight (mean), one 0.06 dB below it. With a fresh draw averaged in every few frames (a
    running mean of draws along the shot), +1.23, each of the eight higher, the lowest +0.12."""
    frames_n, gains = 30, []
    for cell in (6, 8):
        for seed in range(4):
            rng = np.random.default_rng(seed)
            noise = rng.uniform(0, 255, (H // cell, (W + 2 * frames_n) // cell, 3)).astype(np.float32)
            world = np.clip(cv2.resize(noise, (W + 2 * frames_n, H), interpolation=cv2.INTER_CUBIC), 0, 255)
            background = np.stack([world[:, 2 * t : 2 * t + W] for t in range(frames_n)])
            background = np.clip(background + rng.normal(0, 3, background.shape), 0, 255).astype(np.uint8)
            frames, masks = background.copy(), np.zeros((frames_n, H, W), bool)
            for t in range(frames_n):
                masks[t, 28:64, 70 - 2 * t : 114 - 2 * t] = True  # carried left with the texture
            frames[masks] = 128
            out = FlowGuidedInpainter().inpaint(frames, masks, range(frames_n))
            telea = np.stack(
                [
                    cv2.inpaint(f, m.astype(np.uint8), 3, cv2.INPAINT_TELEA)
                    for f, m in zip(frames, masks, strict=True)
                ]
            )
            gains.append(hole_psnr(out, background, masks) - hole_psnr(telea, background, masks))
    assert np.mean(gains) > 1.2 and min(gains) > 0, gains


def test_a_never_revealed_fill_is_made_where_nothing_is_carried_in_and_every_remake_frames():
    """The schedule of made-up fills (``_remakes``): made on the first frame with lost pixels, carried from the
    frame before after that and made again every REMAKE_EVERY frames; a frame without a hole breaks the carry (a
    frame whose pixels copies all reached does not: its output carries on into the next), and the window before's
    output carries into the first frame."""
    from inpainterz_core.inpaint.classical import REMAKE_EVERY, FlowGuidedInpainter

    lost = [True] * 20 + [False] + [True] * 3  # frame 20's pixels were all reached by a copy
    sizes = [3] * 22 + [0] + [3]  # frame 22 has no hole
    ends = np.concatenate([[0], np.cumsum(sizes)])
    found = np.concatenate([np.full(n, not gone) for n, gone in zip(sizes, lost, strict=True)])
    plan = FlowGuidedInpainter._remakes(ends, found, carried_in=False)
    made = sorted(n for n, remade in plan.items() if remade)
    assert made == [0, REMAKE_EVERY, 2 * REMAKE_EVERY, 23]
    assert set(plan) == set(range(20)) | {21, 23}  # every frame with lost pixels, carried or made
    carried_in = FlowGuidedInpainter._remakes(ends, found, carried_in=True)
    assert not carried_in[0] and carried_in[REMAKE_EVERY - 1]  # counted from the frame before
