"""The classical tracker lets go of the pieces of ground its mask holds while the object moves on its own.

On composites made with ``bench/insert_case.py`` the first cut of a badge took a wedge of the cutting mat beside
its dark end (the mat's cells are as dark, and their white lines made the cut's edge); the flow carried the wedge
on with the ground for eight frames, beside the badge, until it tore off, and the fill painted the mat out 37 px
from the badge. A slab that large a share of the mask shows the signs ``_slab_evidence`` counts; a wedge of a few
per cent does not.
"""

import cv2
import numpy as np

from inpainterz_core.track import classical
from inpainterz_core.track.classical import ColourModel, FlowTracker, _ground_pieces

H, W = 120, 160
BODY = (slice(30, 70), slice(40, 110))
WEDGE = (slice(70, 82), slice(90, 110))  # ground below the body's right end
FOOT = (slice(70, 85), slice(50, 70))  # a part of the object below its left end, of its own colour


def ground(seed: int = 0, height: int = H, width: int = W) -> np.ndarray:
    """Grey-brown textured ground."""
    rng = np.random.default_rng(seed)
    return rng.integers(60, 130, (height, width, 3), dtype=np.uint8)


def scene(foot_colour=None):
    """A blue body moving 4 px a frame on still ground (the flow from this frame back to the last: -4 px in x
    inside it, 0 elsewhere), with a wedge of ground below its right end and, when ``foot_colour`` is given,
    a still foot of that colour below its left end. Returns image, body, wedge, foot and flow."""
    image = ground()
    body, wedge, foot = (np.zeros((H, W), bool) for _ in range(3))
    body[BODY], wedge[WEDGE] = True, True
    image[body] = (40, 90, 200)
    if foot_colour is not None:
        foot[FOOT] = True
        image[foot] = foot_colour
    flow = np.zeros((H, W, 2), np.float32)
    flow[body] = (-4.0, 0.0)
    return image, body, wedge, foot, flow


def pieces(image, mask, flow, edges=True):
    return _ground_pieces(image, mask, ColourModel._ring(mask), flow, edges)


def test_a_wedge_of_ground_beside_a_moving_object_is_let_go():
    image, body, wedge, _, flow = scene()
    found = pieces(image, body | wedge, flow)
    assert found is not None
    assert found[wedge].mean() > 0.9 and not found[body].any()


def test_a_still_part_of_the_objects_own_colours_is_kept():
    """A planted foot stays where it was while the body moves on, as ground does; its colours are not the
    ground's, so it stays in the mask."""
    image, body, _, foot, flow = scene(foot_colour=(200, 40, 40))
    assert pieces(image, body | foot, flow) is None


def test_a_piece_apart_that_stays_with_the_ground_is_let_go_and_one_moving_with_the_object_is_kept():
    image, body, _, _, flow = scene()
    apart = np.zeros((H, W), bool)
    apart[90:105, 20:35] = True  # 15 px below the body, of the ground
    letter = np.zeros((H, W), bool)
    letter[10:22, 60:90] = True  # above the body, of its colours and moving with it (a logo's second letter)
    image[letter] = (40, 90, 200)
    flow[letter] = (-4.0, 0.0)
    found = pieces(image, body | apart | letter, flow, edges=False)
    assert found is not None
    assert found[apart].all() and not found[letter].any() and not found[body].any()


def test_a_second_object_apart_standing_still_is_kept():
    """A mask of two objects (one cut of a group: a girl standing beside one walking off, a sign beside a moving
    car): the still one is as big as a third of the other, far more than the specks and wedges a cut takes, and
    stays in the mask though it moves with the ground. A speck of ground apart from the object still goes."""
    image, body, _, _, flow = scene()
    still = np.zeros((H, W), bool)
    still[85:110, 120:156] = True  # 900 px against the body's 2800, 15 px below it and 10 px to its right
    image[still] = (200, 40, 40)
    speck = np.zeros((H, W), bool)
    speck[90:100, 20:30] = True  # 100 px, of the ground
    found = pieces(image, body | still | speck, flow, edges=False)
    assert found is not None
    assert found[speck].all() and not found[still].any() and not found[body].any()


def test_only_pieces_apart_are_judged_without_edges():
    """An object held to its outline (``edges`` False): the outline bounds its mask already."""
    image, body, wedge, _, flow = scene()
    assert pieces(image, body | wedge, flow, edges=False) is None


def test_nothing_is_let_go_of_an_object_moving_with_the_ground():
    """Motion cannot tell an object that does not move on its own from its ground."""
    image, body, wedge, _, flow = scene()
    flow[:] = (-1.0, 0.0)  # a slow pan: object and ground alike
    assert pieces(image, body | wedge, flow) is None


class WedgeClip:
    """A lettered badge 80x30 px, light green to dark teal, sliding right 6 px a frame over a dark mat with white lines
    every 16 px (still camera); its keyframe cut holds a wedge of the mat below its dark end, as in the
    composites (``cut``)."""

    def __init__(self):
        rng = np.random.default_rng(3)
        mat = np.full((240, 320, 3), (42, 44, 48), np.uint8)
        mat[::16], mat[:, ::16] = 200, 200
        self.mat = np.clip(mat.astype(np.int16) + rng.integers(-6, 7, mat.shape), 0, 255).astype(np.uint8)
        ramp = np.linspace(0, 1, 80)[None, :, None]
        self.look = ((1 - ramp) * (150, 210, 160) + ramp * (30, 62, 64)).repeat(30, 0).astype(np.uint8)
        for x in range(12, 64, 13):  # its lettering
            self.look[8:22, x : x + 6] = (20, 120, 70)
        self.look = np.clip(self.look + rng.integers(-12, 13, self.look.shape), 0, 255).astype(np.uint8)

    def mask(self, i: int) -> np.ndarray:
        mask = np.zeros((240, 320), bool)
        mask[100:130, 60 + 6 * i : 140 + 6 * i] = True
        return mask

    def frame(self, i: int) -> np.ndarray:
        out = self.mat.copy()
        out[100:130, 60 + 6 * i : 140 + 6 * i] = self.look
        return out

    def cut(self) -> np.ndarray:
        cut = self.mask(0)
        cut[130:142, 110:140] = True  # a wedge of mat below the dark end, 12 px deep
        return cut


def test_a_keyframe_cut_with_a_wedge_of_ground_is_tracked_without_it(monkeypatch):
    clip = WedgeClip()

    def beyond(found_off: bool) -> list[int]:
        """The mask's pixels more than 3 px from the badge on frames 1-5 (166, 78, 0, 0, 0 without the change)."""
        if found_off:
            monkeypatch.setattr(classical, "_ground_pieces", lambda *a, **k: None)
        tracker = FlowTracker()
        tracker.reset(clip.frame(0), clip.cut().astype(np.uint8))
        counts = []
        for i in range(1, 6):
            near = cv2.dilate(clip.mask(i).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            counts.append(int(((tracker.step(clip.frame(i)) > 0) & ~near).sum()))
        return counts

    with_pieces_let_go = beyond(found_off=False)  # let go of on the first frame after the keyframe
    assert with_pieces_let_go[0] < 20 and with_pieces_let_go[1:] == [0, 0, 0, 0]
    assert min(beyond(found_off=True)[:2]) > 50  # without: carried on with the mat until it tore off


def test_an_object_that_moves_with_its_ground_is_not_a_slab_of_it():
    """A badge riding a wall moves with the wall. On a blurred frame of a fast pan the flow over part of it is
    noise, off the wall's motion, and both signs of a slab can show: what moves with the ground is then most of
    the mask, the object itself, not a slab to let go of (the rest, noise, was kept as the badge: J 0.43)."""
    mask = np.zeros((H, W), bool)
    mask[BODY] = True
    ring = ColourModel._ring(mask)
    flow = np.zeros((H, W, 2), np.float32)  # the ground (and the badge riding it) still from frame to frame
    noisy = mask.copy()
    noisy[:, BODY[1].start + 30 :] = False  # 30 of the body's 70 columns: the flow's noise there
    rng = np.random.default_rng(1)
    flow[noisy] = rng.uniform(3.0, 6.0, (int(noisy.sum()), 2)) * rng.choice(
        [-1.0, 1.0], (int(noisy.sum()), 2)
    )
    # The badge's still part is of a grey its ground holds too, so only its share of the mask keeps it.
    image = ground()
    image[mask & ~noisy] = (90, 90, 90)
    image[noisy] = (40, 90, 200)
    assert classical._slab_in(image, mask, ring, flow) is None


def test_a_slab_of_ground_beside_a_moving_object_is_let_go_of():
    image, body, _, _, flow = scene()
    slab = np.zeros((H, W), bool)
    slab[70:85, 40:110] = True  # a strip of ground below the whole body, a fifth of the mask
    mask = body | slab
    found = classical._slab_in(image, mask, ColourModel._ring(mask), flow)
    assert found is not None
    rest, let_go = found
    assert let_go[slab].mean() > 0.9 and rest[body].mean() > 0.9


def test_a_still_member_of_a_group_is_not_a_slab():
    """A group cut as one (a few girls walking together): one stops while the others walk on. Her part of the mask
    moves with the ground, but she is made of the group's colours, not the ground's: she stays in the mask (let go
    of as a slab, the group was never whole again)."""
    image, body, _, _, flow = scene()
    member = np.zeros((H, W), bool)
    member[35:70, 125:150] = True  # apart from the body, still, of the body's colour
    image[member] = (40, 90, 200)
    mask = body | member
    assert classical._slab_in(image, mask, ColourModel._ring(mask), flow) is None
