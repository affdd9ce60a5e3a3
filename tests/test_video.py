from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from inpainterz_core.errors import InputError
from inpainterz_core.outputs import write_png
from inpainterz_core.video import Mp4Writer, open_video, read_ahead, read_mask


def test_image_folder_reads_numbered_frames_in_order(pan_folder, pan_clip):
    with open_video(pan_folder) as v:
        assert (v.width, v.height, v.frame_count) == (pan_clip.width, pan_clip.height, pan_clip.frames)
        np.testing.assert_array_equal(v.read(3), pan_clip.frame(3))
        indices = [i for i, _ in v.frames(2, 6)]
        assert indices == [2, 3, 4, 5]


def test_video_random_access_equals_sequential_decode(pan_mp4, pan_clip):
    with open_video(pan_mp4) as v:
        assert v.frame_count == pan_clip.frames
        assert abs(v.fps - 25.0) < 1e-6
        sequential = [f for _, f in v.frames()]
        for i in (7, 0, 19, 8, 9, 3):
            np.testing.assert_array_equal(v.read(i), sequential[i])
        backward = list(v.frames_reversed(4, 15, chunk=4))
        assert [i for i, _ in backward] == list(range(14, 3, -1))
        for i, f in backward:
            np.testing.assert_array_equal(f, sequential[i])


def test_real_clip_frame_count(shared_clips):
    with open_video(shared_clips / "logo.mp4") as v:  # its edit list drops 17 leading packets
        assert (v.width, v.height, v.frame_count) == (1920, 1080, 105)


def _stamped_in_decode_order(source: Path, out: Path) -> None:
    """``source``'s packets copied into ``out`` with each one's decoding time as its presentation time too, as
    some muxers write them."""
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        first = None
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            first = packet.dts if first is None else first
            packet.pts = packet.dts = packet.dts - first
            packet.stream = stream
            dst.mux(packet)


def test_a_clip_stamped_in_decode_order_reads_in_the_order_it_is_shown(pan_clip, tmp_path):
    """Its frames come out of the decoder with their times out of order: they are shown in the order they come
    out, and reading one must neither reorder them by time nor start over for ever."""
    with_b_frames = tmp_path / "b.mp4"
    with av.open(str(with_b_frames), "w") as dst:
        stream = dst.add_stream("libx264", rate=25, options={"crf": "18"})  # lossless would drop B-frames
        stream.width, stream.height, stream.pix_fmt = pan_clip.width, pan_clip.height, "yuv420p"
        stream.codec_context.max_b_frames = 3
        for i in range(pan_clip.frames):
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(pan_clip.frame(i), format="rgb24")))
        dst.mux(stream.encode())
    stamped = tmp_path / "stamped.mp4"
    _stamped_in_decode_order(with_b_frames, stamped)
    with av.open(str(stamped)) as check:  # the file is as meant: times out of order as decoded
        times = [frame.pts for frame in check.decode(video=0)]
        assert times != sorted(times)
    with open_video(with_b_frames) as good, open_video(stamped) as v:
        assert v.frame_count == good.frame_count == pan_clip.frames
        truth = [f for _, f in good.frames()]
        for i, frame in v.frames():
            np.testing.assert_array_equal(frame, truth[i])
        for i in (7, 0, 19, 8, 9, 3):
            np.testing.assert_array_equal(v.read(i), truth[i])
        assert [v.timestamp(i)[0] for i in range(v.frame_count)] == sorted(times)


def test_frame_out_of_range(pan_mp4):
    with open_video(pan_mp4) as v, pytest.raises(InputError, match="out of range"):
        v.read(20)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_corrupt_or_empty_file_is_an_input_error(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InputError):
        open_video(bad)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_video(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="no numbered images"):
        open_video(tmp_path)


def test_mp4_writer_crops_odd_sizes(tmp_path):
    with Mp4Writer(tmp_path / "odd.mp4", 33, 21, 24.0) as video:
        for i in range(3):
            video.write(np.full((21, 33, 3), i * 50, np.uint8))
    with open_video(tmp_path / "odd.mp4") as v:
        assert (v.width, v.height, v.frame_count) == (32, 20, 3)


def test_mask_png_round_trip(tmp_path):
    labels = np.zeros((10, 12), np.uint8)
    labels[2:5, 3:9] = 2
    write_png(tmp_path / "m.png", labels)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), labels)


def test_gap_in_image_numbers_is_refused(pan_folder, tmp_path):
    folder = tmp_path / "gap"
    folder.mkdir()
    for i, f in enumerate(sorted(pan_folder.iterdir())[:10]):
        if i not in (5, 6):
            (folder / f"frame_{i:04d}.png").write_bytes(f.read_bytes())
    with pytest.raises(InputError, match=r"gap in its numbering: frames 5-6 missing between 0 and 9"):
        open_video(folder)
    (folder / "frame_0005.png").write_bytes((folder / "frame_0004.png").read_bytes())
    with pytest.raises(InputError, match=r"frame 6 missing"):
        open_video(folder)
    (folder / "frame_06.png").write_bytes((folder / "frame_0004.png").read_bytes())
    (folder / "frame_6.png").write_bytes((folder / "frame_0004.png").read_bytes())
    with pytest.raises(
        InputError, match=r"two images for the same frame number \(frame_06.png and frame_6.png\)"
    ):
        open_video(folder)
    (folder / "frame_6.png").unlink()
    with open_video(folder) as v:
        assert v.frame_count == 10


def test_sequence_may_start_at_any_number(pan_folder, tmp_path):
    folder = tmp_path / "from1001"
    folder.mkdir()
    for i, f in enumerate(sorted(pan_folder.iterdir())[:4]):
        (folder / f"shot.{1001 + i}.png").write_bytes(f.read_bytes())
    with open_video(folder) as v:
        assert v.frame_count == 4


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ([0, 1, 2, 255], [0, 1, 2, 255]),  # 16-bit object ids
        ([0, 65535], [0, 255]),  # a binary mask at 16-bit full scale
        ([0, 257, 514], [0, 1, 2]),  # an 8-bit label map widened to 16 bits
    ],
)
def test_16_bit_masks_that_can_be_read(tmp_path, stored, read):
    labels = np.zeros((6, 8), np.uint16)
    labels[1, : len(stored)] = stored
    cv2.imwrite(str(tmp_path / "m.png"), labels)
    mask = read_mask(tmp_path / "m.png")
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask[1, : len(read)], read)
    assert not mask[0].any()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.array([[0, 51200], [0, 0]], np.uint16), "16-bit mask with values up to 51200"),
        (np.array([[0, 300], [1, 2]], np.uint16), "16-bit mask with values up to 300"),
        (
            np.dstack(
                [np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8), np.zeros((2, 2), np.uint8)]
            ),
            "colour image, not a mask",
        ),
        (
            np.dstack([np.zeros((2, 2), np.uint8)] * 3 + [np.array([[0, 255], [0, 0]], np.uint8)]),
            "has transparency",
        ),  # black strokes drawn on a transparent layer: read as grey they would be all 0
    ],
)
def test_masks_we_cannot_interpret_are_refused(tmp_path, image, message):
    cv2.imwrite(str(tmp_path / "m.png"), image)
    with pytest.raises(InputError, match=message):
        read_mask(tmp_path / "m.png")


@pytest.mark.parametrize("alpha", [False, True])
def test_grey_mask_saved_as_colour_is_read(tmp_path, alpha):
    labels = np.zeros((4, 5), np.uint8)
    labels[1:3, 2:4] = 3
    cv2.imwrite(str(tmp_path / "m.png"), np.dstack([labels] * 3 + [np.full_like(labels, 255)] * alpha))
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), labels)


def test_float_mask_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "m.tiff"), np.ones((4, 4), np.float32))
    with pytest.raises(InputError, match="float32 values, not a mask"):
        read_mask(tmp_path / "m.tiff")


def test_frames_read_ahead_are_the_frames_in_order(pan_mp4):
    with open_video(pan_mp4) as source:
        plain = list(source.frames())
    with open_video(pan_mp4) as source:
        ahead = list(read_ahead(source.frames(), depth=3))
    assert [i for i, _ in ahead] == [i for i, _ in plain]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ahead, plain, strict=True))


def test_reading_ahead_holds_at_most_depth_frames_and_stops_when_closed():
    read, closed = [], []

    def frames():
        try:
            for i in range(100):
                read.append(i)
                yield i
        finally:
            closed.append(True)

    taken = read_ahead(frames(), depth=2)
    assert [next(taken) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(read) <= 5 + 2
    taken.close()  # waits for the reading thread, then closes the frames' own generator
    assert closed == [True] and len(read) <= 5 + 2


def test_an_error_reading_ahead_comes_out_at_its_frame():
    def frames():
        yield 0
        yield 1
        raise InputError("clip.mp4 is corrupt near frame 2")

    taken = read_ahead(frames(), depth=4)
    assert next(taken) == 0 and next(taken) == 1
    with pytest.raises(InputError, match="corrupt near frame 2"):
        next(taken)
