"""`make demo`: remove a moving logo from a generated camera pan and score the result against exact truth.

The clip is made at run time from a real photograph that ships with
scikit-image (``rocket``): a virtual camera pans and zooms slightly across it,
and scikit-image's own logo drifts and turns over it. Because we composite the
logo ourselves, the true mask and the true background of every frame are known.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .masks import bounding_box
from .metrics import RegionScores
from .outputs import write_png
from .pipeline import remove
from .prompts import ObjectPrompt, Point, Prompts
from .settings import Settings
from .video import Mp4Writer, frame_name, open_video, read_mask

WIDTH, HEIGHT, FRAMES = 480, 270, 60


class PanClip:
    """Frame ``i`` of the synthetic clip, its background and its logo mask, computed on demand (no clip in memory)."""

    def __init__(
        self, frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT, logo_size: int | None = None
    ):
        from skimage import data

        self.frames, self.width, self.height = frames, width, height

        self.photo = data.rocket()  # 427x640 RGB photograph
        logo = data.logo()  # 500x500 RGBA
        size = logo_size or round(72 * height / HEIGHT)
        self.logo_rgb = cv2.resize(logo[..., :3], (size, size), interpolation=cv2.INTER_AREA)
        self.logo_alpha = cv2.resize(logo[..., 3], (size, size), interpolation=cv2.INTER_AREA) >= 128

    def background(self, i: int) -> np.ndarray:
        t = i / max(1, self.frames - 1)
        ph, pw = self.photo.shape[:2]
        zoom = 1.0 + 0.08 * t  # a slow push-in
        w, h = self.width / zoom, self.height / zoom
        cx = w / 2 + (pw - w) * (0.15 + 0.6 * t)
        cy = h / 2 + (ph - h) * (0.45 + 0.1 * math.sin(2 * math.pi * t))
        a = np.array(
            [[zoom, 0, self.width / 2 - zoom * cx], [0, zoom, self.height / 2 - zoom * cy]], np.float32
        )
        return cv2.warpAffine(
            self.photo, a, (self.width, self.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )

    def _logo_transform(self, i: int) -> np.ndarray:
        t = i / max(1, self.frames - 1)
        x, y = self.width * (0.35 + 0.25 * t), self.height * (0.45 + 0.12 * math.sin(math.pi * t))
        angle = 20 * t
        m = cv2.getRotationMatrix2D((self.logo_rgb.shape[1] / 2, self.logo_rgb.shape[0] / 2), angle, 1.0)
        m[:, 2] += (x - self.logo_rgb.shape[1] / 2, y - self.logo_rgb.shape[0] / 2)
        return m

    def mask(self, i: int) -> np.ndarray:
        alpha = self.logo_alpha.astype(np.uint8) * 255
        warped = cv2.warpAffine(
            alpha, self._logo_transform(i), (self.width, self.height), flags=cv2.INTER_NEAREST
        )
        return warped > 0

    def frame(self, i: int) -> np.ndarray:
        logo = cv2.warpAffine(
            self.logo_rgb, self._logo_transform(i), (self.width, self.height), flags=cv2.INTER_NEAREST
        )
        out = self.background(i)
        m = self.mask(i)
        out[m] = logo[m]
        return out


def write_clip(clip: PanClip, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(clip.frames):
        write_png(folder / frame_name(i), clip.frame(i))


def click_prompt(clip: PanClip) -> ObjectPrompt:
    """What a user would do: click the middle of the logo and drag a box around it, on frame 0."""
    x0, y0, x1, y1 = bounding_box(clip.mask(0))
    ys, xs = np.nonzero(clip.mask(0))
    centre = int(np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    return ObjectPrompt(
        frame=0,
        points=(Point(float(xs[centre]), float(ys[centre]), 1),),
        box=(x0 - 3.0, y0 - 3.0, x1 + 3.0, y1 + 3.0),
    )


def score(clip: PanClip, out_dir: Path) -> dict:
    scores = RegionScores()
    with open_video(out_dir / "inpainted") as result:
        for i, painted in result.frames():
            truth = clip.mask(i)
            scores.add_masks(read_mask(out_dir / "masks" / frame_name(i)) > 0, truth)
            scores.add_pixels(painted, clip.background(i), truth)
    return scores.summary()


def contact_sheet(rows: list[list[np.ndarray]], path: Path, height: int = 200) -> None:
    """A grid of images (each row scaled to ``height``), written as PNG."""

    def fit(image):
        return cv2.resize(
            image, (round(image.shape[1] * height / image.shape[0]), height), interpolation=cv2.INTER_AREA
        )

    lines = [np.hstack([fit(im) for im in row]) for row in rows]
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines]
    write_png(path, np.vstack(lines))


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[mask] = (0.45 * out[mask] + 0.55 * np.array([255, 40, 40])).astype(np.uint8)
    return out


def before_after(source, out_dir: Path, path: Path) -> None:
    """Side-by-side before/after mp4 of a finished run."""
    with (
        open_video(out_dir / "inpainted") as result,
        Mp4Writer(path, source.width * 2, source.height, source.fps) as video,
    ):
        for (_, before), (_, after) in zip(source.frames(), result.frames(), strict=True):
            video.write(np.hstack([before, after]))


def sheet_of_run(source, out_dir: Path, frames: list[int], path: Path) -> None:
    """Contact sheet: one row per frame, input | mask overlay | result."""
    rows = []
    with open_video(out_dir / "inpainted") as result:
        for i in frames:
            before = source.read(i)
            rows.append(
                [before, overlay(before, read_mask(out_dir / "masks" / frame_name(i)) > 0), result.read(i)]
            )
    contact_sheet(rows, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inpainterz-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--backend", default="auto", choices=["auto", "classical", "model"])
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    clip = PanClip()
    write_clip(clip, args.out / "input")
    prompt = click_prompt(clip)
    print(
        f"demo clip: {FRAMES} frames of {WIDTH}x{HEIGHT} panning over scikit-image's 'rocket' photo, "
        f"logo clicked at ({prompt.points[0].x:.0f}, {prompt.points[0].y:.0f}) on frame 0"
    )
    report = remove(args.out / "input", Prompts((prompt,)), Settings(backend=args.backend), args.out / "run")
    scores = score(clip, args.out / "run")
    with open_video(args.out / "input") as source:
        before_after(source, args.out / "run", args.out / "before_after.mp4")
        sheet_of_run(source, args.out / "run", [0, FRAMES // 2, FRAMES - 1], args.out / "contact_sheet.png")
    summary = {
        "J&F": scores["JF"],
        "J": scores["J"],
        "F": scores["F"],
        "hole_psnr_db": scores["hole_psnr"],
        "backends": {k: v["name"] for k, v in report["backends"].items()},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (args.out / "scores.json").write_text(json.dumps(summary, indent=2))
    print(
        f"J&F {scores['JF']:.3f} (J {scores['J']:.3f}, F {scores['F']:.3f}), "
        f"hole PSNR {scores['hole_psnr']:.2f} dB, in {summary['seconds']} s"
    )
    print(f"wrote {args.out / 'before_after.mp4'}, {args.out / 'contact_sheet.png'} and {args.out / 'run'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
