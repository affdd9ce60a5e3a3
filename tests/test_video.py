import numpy as np
import pytest

from inpainterz_core.errors import InputError
from inpainterz_core.video import Mp4Writer, open_video, read_mask, write_png


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
