"""result.mp4 keeps its source's timing, orientation and audio exactly (issue 9, items 5-7).

The clips are made here with PyAV: a variable-frame-rate clip with AAC audio, a phone-style clip
stored landscape with a -90 degree display matrix, a 25 fps clip with non-square pixels, and one
whose audio mp4 cannot hold. Everything is compared with PyAV, timestamps in seconds as exact
fractions (mp4 may store them in a finer time base).
"""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from inpainterz_core.demo import PanClip, click_prompt
from inpainterz_core.video import Mp4Writer, open_video, read_mask

INPAINTERZ = Path(sys.executable).with_name("inpainterz")


# -- making clips ----------------------------------------------------------------------------------------------


def coded_from_displayed(image: np.ndarray, degrees: int, hflip: bool = False) -> np.ndarray:
    """How a clip with this display rotation stores a frame shown as ``image``.

    PyAV's ``degrees`` turn the stored frame counter-clockwise for display, then ``hflip`` mirrors it
    (a phone's portrait clip is stored landscape with -90: shown turned clockwise).
    """
    if hflip:
        image = image[:, ::-1]
    return np.ascontiguousarray(np.rot90(image, k=-degrees // 90))


def make_clip(
    path: Path,
    frames: list[np.ndarray],
    pts: list[int],
    time_base: Fraction,
    rate: Fraction,
    degrees: int | None = None,
    hflip: bool = False,
    audio: str | None = None,
    pixel_shape: Fraction | None = None,
) -> None:
    """Write displayed ``frames`` at ``pts`` (H.264 with B-frames), stored turned by ``degrees``, with
    a second of tone in ``audio`` ("aac" at 48 kHz, or "pcm_u8" at 8 kHz) and non-square pixels."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate, options={"crf": "12", "preset": "veryfast"})
        right_angle = (degrees or 0) % 90 == 0  # any other turn: the frames are given as stored
        coded = [coded_from_displayed(f, degrees or 0, hflip) if right_angle else f for f in frames]
        video.height, video.width = coded[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = time_base
        video.time_base = time_base
        if degrees is not None:
            video.set_display_rotation(degrees, hflip=hflip)
        if pixel_shape is not None:
            video.codec_context.sample_aspect_ratio = pixel_shape
        sound = out.add_stream(audio, rate=48000 if audio == "aac" else 8000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for image, t in zip(coded, pts, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = t, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            rate_hz, size = sound.codec_context.sample_rate, 1024
            fmt = sound.codec_context.format.name
            for n in range(rate_hz // size + 2):
                t = np.arange(n * size, (n + 1) * size) / rate_hz
                tone = 0.3 * np.sin(2 * np.pi * 440 * t)
                samples = {
                    "fltp": tone.astype(np.float32),
                    "s16": (tone * 32767).astype(np.int16),
                    "u8": (tone * 127 + 128).astype(np.uint8),
                }[fmt]
                frame = av.AudioFrame.from_ndarray(samples[None, :], format=fmt, layout="mono")
                frame.sample_rate, frame.pts = rate_hz, n * size
                out.mux(sound.encode(frame))
            out.mux(sound.encode())


CLIP = PanClip(frames=24, width=160, height=96)
#: Frame gaps of a variable-frame-rate clip, in 1/90000 s: 30, 15 and 60 fps mixed.
VFR_STEPS = [3000, 6000, 1500, 3000, 3003, 1500, 4500]


def vfr_pts(count: int) -> list[int]:
    pts = [0]
    while len(pts) < count:
        pts.append(pts[-1] + VFR_STEPS[len(pts) % len(VFR_STEPS)])
    return pts


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fidelity")
    frames = [CLIP.frame(i) for i in range(CLIP.frames)]
    made = {}
    specs = {
        "vfr-aac.mp4": dict(
            pts=vfr_pts(CLIP.frames), time_base=Fraction(1, 90000), rate=Fraction(30), audio="aac"
        ),
        "rotated-aac.mp4": dict(
            pts=list(range(0, 512 * CLIP.frames, 512)),
            time_base=Fraction(1, 12800),
            rate=Fraction(25),
            degrees=-90,
            audio="aac",
        ),
        "cfr25.mp4": dict(
            pts=list(range(CLIP.frames)),
            time_base=Fraction(1, 25),
            rate=Fraction(25),
            pixel_shape=Fraction(8, 9),
        ),
        "pcm-u8.mkv": dict(
            pts=[40 * i for i in range(CLIP.frames)],
            time_base=Fraction(1, 1000),
            rate=Fraction(25),
            audio="pcm_u8",
        ),
    }
    for name, spec in specs.items():
        made[name] = folder / name
        make_clip(made[name], frames, **spec)
    return made


# -- reading them back ------------------------------------------------------------------------------------------


def frame_times(path: Path) -> list[Fraction]:
    """Every shown frame's presentation time in seconds, in order."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return sorted(
            p.pts * stream.time_base for p in c.demux(stream) if p.pts is not None and not p.is_discard
        )


def display_matrix(path: Path) -> tuple[int, ...] | None:
    with av.open(str(path)) as c:
        side = next(c.decode(video=0)).side_data.get("DISPLAYMATRIX")
        return struct.unpack("<9i", bytes(side)) if side is not None else None


def audio_packets(path: Path) -> list[list[tuple]]:
    """Per audio stream: each packet's times in seconds, discard flag and bytes."""
    with av.open(str(path)) as c:
        streams = list(c.streams.audio)
        packets: list[list[tuple]] = [[] for _ in streams]
        for p in c.demux(streams) if streams else ():
            if p.size:
                packets[streams.index(p.stream)].append(
                    (
                        p.pts * p.time_base,
                        p.dts * p.time_base,
                        p.duration * p.time_base,
                        p.is_discard,
                        bytes(p),
                    )
                )
        return packets


def stored_frames(path: Path) -> list[np.ndarray]:
    """The frames as coded (no display matrix applied)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def assert_same_timing_rotation_audio(source: Path, result: Path, audio_kept: bool = True) -> None:
    times = frame_times(source)
    assert frame_times(result) == times  # same count, every frame at exactly the same time
    with av.open(str(source)) as a, av.open(str(result)) as b:
        sa, sb = a.streams.video[0], b.streams.video[0]
        assert (sa.time_base / sb.time_base).denominator == 1  # the source's time base, or a finer multiple
        assert sb.guessed_rate == sa.guessed_rate
        assert sb.sample_aspect_ratio == sa.sample_aspect_ratio
        assert sb.start_time * sb.time_base == sa.start_time * sa.time_base
        if sa.duration is not None:  # the video lasts as long (mkv gives no stream duration)
            assert sb.duration * sb.time_base == sa.duration * sa.time_base
    assert display_matrix(result) == display_matrix(source)
    assert audio_packets(result) == (audio_packets(source) if audio_kept else [])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(INPAINTERZ), *args], capture_output=True, text=True, timeout=300)


def remove(source: Path, out: Path, point: tuple[float, float], box=None) -> subprocess.CompletedProcess:
    args = [
        "remove",
        str(source),
        "-o",
        str(out),
        "--point",
        f"{point[0]:.0f},{point[1]:.0f}",
        "--backend",
        "classical",
        "-q",
    ]
    if box is not None:
        args += ["--box", ",".join(f"{v:.0f}" for v in box)]
    return run_cli(*args)


# -- through the command line -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vfr-aac.mp4", "rotated-aac.mp4", "cfr25.mp4"])
def test_cli_result_keeps_timestamps_rotation_and_audio(clips, tmp_path, name):
    prompt = click_prompt(CLIP)  # in displayed coordinates, as the user sees the clip
    done = remove(clips[name], tmp_path / "out", (prompt.points[0].x, prompt.points[0].y), prompt.box)
    assert done.returncode == 0, done.stderr
    result = tmp_path / "out" / "result.mp4"
    assert_same_timing_rotation_audio(clips[name], result)
    # The mask and the clean frames are in displayed orientation; the mask covers the clicked logo.
    mask = read_mask(tmp_path / "out" / "masks" / "000000.png")
    assert mask.shape == (CLIP.height, CLIP.width)
    assert mask[int(prompt.points[0].y), int(prompt.points[0].x)] > 0
    with open_video(tmp_path / "out" / "inpainted") as clean:
        assert (clean.width, clean.height) == (CLIP.width, CLIP.height)
    # result.mp4 stores its frames as the source does: away from the logo they match it.
    degrees = -90 if name.startswith("rotated") else 0
    for i, (before, after) in enumerate(zip(stored_frames(clips[name]), stored_frames(result), strict=True)):
        hole = cv2.dilate(read_mask(tmp_path / "out" / "masks" / f"{i:06d}.png"), np.ones((15, 15), np.uint8))
        away = coded_from_displayed(hole, degrees) == 0
        assert before.shape == after.shape
        assert np.abs(before.astype(int) - after.astype(int))[away].mean() < 3


def test_cli_rotated_clip_takes_prompts_in_displayed_coordinates(tmp_path):
    """A portrait phone clip, stored landscape (200x96) and shown 96x200: a click lower than 96 is
    inside the frame as shown (it was refused as outside the stored frame)."""
    clip = PanClip(frames=6, width=96, height=200)
    frames = [clip.frame(i) for i in range(clip.frames)]
    source = tmp_path / "portrait.mp4"
    make_clip(source, frames, list(range(clip.frames)), Fraction(1, 30), Fraction(30), degrees=-90)
    ys, xs = np.nonzero(clip.mask(0))
    inside = np.argmax(ys)  # the logo pixel lowest in the frame: y beyond the stored height of 96
    x, y = int(xs[inside]), int(ys[inside])
    assert y >= 96
    done = remove(source, tmp_path / "out", (x, y), (xs.min() - 3, ys.min() - 3, xs.max() + 3, ys.max() + 3))
    assert done.returncode == 0, done.stderr
    mask = read_mask(tmp_path / "out" / "masks" / "000000.png")
    assert mask.shape == (200, 96) and mask[y, x] > 0
    assert display_matrix(tmp_path / "out" / "result.mp4") == display_matrix(source)


def test_cli_says_when_audio_cannot_be_kept(clips, tmp_path):
    prompt = click_prompt(CLIP)
    done = remove(clips["pcm-u8.mkv"], tmp_path / "out", (prompt.points[0].x, prompt.points[0].y), prompt.box)
    assert done.returncode == 0, done.stderr
    assert "audio stream #1 (pcm_u8) is not kept" in done.stderr
    assert_same_timing_rotation_audio(clips["pcm-u8.mkv"], tmp_path / "out" / "result.mp4", audio_kept=False)


def test_cli_real_clip_keeps_timestamps_and_audio(shared_clips, tmp_path):
    """logo.mp4: 25 fps in 1/12800 with 17 leading frames cut by its edit list, AAC with priming.

    ``inpaint`` with a small given mask on the first frames (16-bit, object id 1) instead of ``remove``:
    the same writer, without tracking and painting out the whole logo in full HD (a minute and a half).
    """
    source = shared_clips / "logo.mp4"
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((1080, 1920), np.uint16)
    for i in range(105):
        mask[520:570, 1420:1500] = 1 if i < 8 else 0
        assert cv2.imwrite(str(masks / f"{i:06d}.png"), mask)
    done = run_cli(
        "inpaint",
        str(source),
        "--masks",
        str(masks),
        "-o",
        str(tmp_path / "out"),
        "--backend",
        "classical",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    result = tmp_path / "out" / "result.mp4"
    assert_same_timing_rotation_audio(source, result)
    assert frame_times(result)[-1] == Fraction(416, 100)  # not 4.171 s


# -- the writer on its own ------------------------------------------------------------------------------------------


def write_through(source_path: Path, dest: Path, start: int, stop: int) -> Mp4Writer:
    with open_video(source_path) as source:
        writer = Mp4Writer.for_source(dest, source, start, stop)
        try:
            for _, frame in source.frames(start, stop):
                writer.write(frame)
        finally:
            writer.close()
    return writer


def test_partial_range_keeps_its_times_and_the_audio_of_its_span(clips, tmp_path):
    source = clips["vfr-aac.mp4"]
    write_through(source, tmp_path / "part.mp4", 5, 15)
    times = frame_times(source)
    assert frame_times(tmp_path / "part.mp4") == times[5:15]
    (kept,) = audio_packets(tmp_path / "part.mp4")
    (all_audio,) = audio_packets(source)
    assert kept == [p for p in all_audio if times[5] <= p[0] < times[15]]
    assert display_matrix(tmp_path / "part.mp4") is None


def test_writer_reports_audio_it_could_not_copy(clips, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="inpainterz_core.video"):
        writer = write_through(clips["pcm-u8.mkv"], tmp_path / "out.mp4", 0, CLIP.frames)
    assert writer.audio_streams == [
        {"index": 1, "codec": "pcm_u8", "kept": False, "reason": "mp4 cannot hold pcm_u8 audio"}
    ]
    assert "is not kept" in caplog.text
    writer = write_through(clips["vfr-aac.mp4"], tmp_path / "aac.mp4", 0, CLIP.frames)
    assert writer.audio_streams == [{"index": 1, "codec": "aac", "kept": True}]


def test_image_folder_result_keeps_frame_times(pan_folder, tmp_path):
    write_through(pan_folder, tmp_path / "out.mp4", 2, 9)
    assert frame_times(tmp_path / "out.mp4") == [Fraction(i, 25) for i in range(2, 9)]


# -- reading in displayed orientation ----------------------------------------------------------------------------


def pattern(width: int = 64, height: int = 48) -> np.ndarray:
    """Big flat blocks, different in each corner, so any turn or mirror shows."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = (250, 30, 30)
    image[: height // 2, width // 2 :] = (30, 250, 30)
    image[height // 2 :, : width // 4] = (30, 30, 250)
    image[height // 2 :, width // 4 :] = (250, 250, 250)
    return image


@pytest.mark.parametrize(
    ("degrees", "hflip"), [(-90, False), (90, False), (180, False), (0, True), (-90, True)]
)
def test_rotated_video_reads_in_displayed_orientation(tmp_path, degrees, hflip):
    shown = pattern()
    path = tmp_path / "turned.mp4"
    make_clip(path, [shown] * 3, [0, 1, 2], Fraction(1, 25), Fraction(25), degrees=degrees, hflip=hflip)
    with open_video(path) as video:
        assert (video.width, video.height) == (64, 48)
        frame = video.read(1)
        assert np.abs(frame.astype(int) - shown.astype(int)).mean() < 4
        assert np.array_equal(video.to_coded(frame), coded_from_displayed(frame, degrees, hflip))


def test_odd_rotation_is_read_as_stored_and_kept(tmp_path, caplog):
    path = tmp_path / "tilted.mp4"
    make_clip(path, [pattern()] * 3, [0, 1, 2], Fraction(1, 25), Fraction(25), degrees=30)
    with caplog.at_level(logging.WARNING, logger="inpainterz_core.video"), open_video(path) as video:
        assert (video.width, video.height) == (64, 48)
    assert "not a multiple of 90" in caplog.text
    write_through(path, tmp_path / "out.mp4", 0, 3)
    assert display_matrix(tmp_path / "out.mp4") == display_matrix(path)


class _MuxLog:
    """Stands in for the writer's output container and notes each packet muxed: (kind, decode time)."""

    def __init__(self, container):
        self.container, self.muxed = container, []

    def mux(self, packet):
        self.muxed.append((packet.stream.type, packet.dts * packet.time_base))
        self.container.mux(packet)

    def __getattr__(self, name):
        return getattr(self.container, name)


def test_audio_is_muxed_as_the_video_advances(clips, tmp_path):
    """Bounded memory: audio packets go out beside the video packets of their time, not all at the end."""
    with open_video(clips["vfr-aac.mp4"]) as source:
        writer = Mp4Writer.for_source(tmp_path / "out.mp4", source, 0, source.frame_count)
        log = writer._container = writer._audio._output = _MuxLog(writer._container)
        for _, frame in source.frames():
            writer.write(frame)
        writer.close()
    video_at = [n for n, (kind, _) in enumerate(log.muxed) if kind == "video"]
    halfway = video_at[len(video_at) // 2]
    t = log.muxed[halfway][1]
    audio_before = [at for kind, at in log.muxed[:halfway] if kind == "audio"]
    assert audio_before and t - Fraction(1, 20) < max(audio_before) <= t  # AAC packets are 21 ms apart
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(clips["vfr-aac.mp4"])


# -- colours ------------------------------------------------------------------------------------------------------

#: (Kr, Kb) of the YUV matrices, by FFmpeg's colour space code (2: unspecified, read as BT.601).
LUMA_WEIGHTS = {1: (0.2126, 0.0722), 2: (0.299, 0.114), 6: (0.299, 0.114)}


def yuv_planes(frame: int, width: int = 64, height: int = 48) -> np.ndarray:
    """yuv420p planes of a luma ramp across the frame under one chroma that changes with ``frame``."""
    y = np.tile(np.linspace(30, 220, width).round().astype(np.uint8), (height, 1))
    u = np.full((height // 2, width // 2), 128 + 12 * (frame - 1), np.uint8)
    v = np.full((height // 2, width // 2), 128 - 9 * (frame - 1), np.uint8)
    return np.concatenate([y, u.reshape(-1, width), v.reshape(-1, width)])


def expected_rgb(planes: np.ndarray, space: int, full_range: bool) -> np.ndarray:
    """What the planes of ``yuv_planes`` stand for, by the colour space's matrix and range."""
    height = planes.shape[0] * 2 // 3
    y = planes[:height].astype(float)
    u, v = float(planes[height, 0]), float(planes[height + height // 4, 0])
    if full_range:
        y, u, v = y / 255, (u - 128) / 255, (v - 128) / 255
    else:
        y, u, v = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    kr, kb = LUMA_WEIGHTS[space]
    r, b = y + 2 * (1 - kr) * v, y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1) * 255, 0, 255)


def make_yuv_clip(path: Path, space: int, colour_range: int, frames: int = 3) -> list[np.ndarray]:
    """A lossless H.264 clip of known YUV planes, tagged with ``space`` and ``colour_range``."""
    planes = [yuv_planes(i) for i in range(frames)]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"qp": "0", "preset": "veryfast"})
        video.height, video.width = 48, 64
        video.pix_fmt = "yuv420p"
        context = video.codec_context
        context.colorspace, context.color_range = space, colour_range
        context.color_primaries = context.color_trc = space
        for i, p in enumerate(planes):
            frame = av.VideoFrame.from_ndarray(p, format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
    return planes


def colour_tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        f = next(c.decode(video=0))
        return int(f.colorspace), int(f.color_range), int(f.color_primaries), int(f.color_trc)


@pytest.mark.parametrize(
    ("space", "colour_range"), [(1, 1), (1, 2), (2, 0), (6, 1)], ids=["709", "709-full", "untagged", "601"]
)
def test_frames_are_read_with_their_own_matrix_and_range_without_bias(tmp_path, space, colour_range):
    """swscale's default rounding read every frame about a grey level dark, and a full-range clip as limited."""
    path = tmp_path / "known.mp4"
    planes = make_yuv_clip(path, space, colour_range)
    with open_video(path) as video:
        for i, frame in video.frames():
            error = frame.astype(float) - expected_rgb(planes[i], space, full_range=colour_range == 2)
            assert np.abs(error).max() <= 1.5
            assert np.abs(error.mean((0, 1))).max() < 0.4  # no bias in any channel


@pytest.mark.parametrize(
    ("space", "colour_range"), [(1, 1), (1, 2), (2, 0)], ids=["709", "709-full", "untagged"]
)
def test_result_keeps_the_source_colours(tmp_path, space, colour_range):
    """Read and written back, the frames give the source's YUV planes again (one grey level darker before)
    and the result carries the source's colour tags, so a player shows both alike."""
    path = tmp_path / "known.mp4"
    planes = make_yuv_clip(path, space, colour_range)
    write_through(path, tmp_path / "out.mp4", 0, len(planes))
    assert colour_tags(tmp_path / "out.mp4") == colour_tags(path)
    with av.open(str(tmp_path / "out.mp4")) as c:
        for written, planes_in in zip(c.decode(video=0), planes, strict=True):
            error = written.to_ndarray().astype(float) - planes_in
            assert abs(error.mean()) < 0.2 and np.abs(error).mean() < 0.75


def test_image_folder_result_is_tagged_bt709(pan_folder, tmp_path):
    write_through(pan_folder, tmp_path / "out.mp4", 0, 4)
    assert colour_tags(tmp_path / "out.mp4") == (1, 1, 1, 1)
    with open_video(pan_folder) as images, open_video(tmp_path / "out.mp4") as result:
        for (_, image), (_, back) in zip(images.frames(0, 4), result.frames(), strict=True):
            h, w = back.shape[:2]
            error = back.astype(float) - image[:h, :w]  # chroma at half size blurs colour edges
            assert abs(error.mean()) < 0.3 and np.abs(error).mean() < 3.0
