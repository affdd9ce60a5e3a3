"""SAM 2.1 and EdgeTAM as trackers, through transformers' ``Sam2VideoModel`` / ``EdgeTamVideoModel``.

The pipeline feeds frames one at a time (forward from a keyframe, or backward by feeding them
in reverse), so this runs the library's streaming mode: each frame is added to the inference
session as it comes. Memory stays flat with clip length: after each frame the session keeps
only what the memory bank reads, i.e. the conditioning frames (keyframes and corrections) and
the last N tracked frames (N = the larger of ``num_maskmem`` and ``max_object_pointers_in_encoder``
from config.json); frames, vision features and high-resolution masks of older frames are dropped.

A correction (``correct``) becomes a conditioning frame even on a frame already tracked, so it
always takes effect (SAM 2's video predictor otherwise keeps a tracked frame as non-conditioning
and a corrective click can be ignored after propagation).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import resolve_device
from ..errors import InputError
from ..segment.sam2 import load_pretrained, model_classes
from .base import Tracker


class Sam2Tracker(Tracker):
    """Propagates a label map (object ids 1..255) with SAM 2.1 or EdgeTAM (``family`` "sam2" or "edgetam").

    ``fp16`` runs under bfloat16 autocast on CUDA (as SAM 2's own predictor does); ``offload_state``
    keeps the session's memory bank in host memory instead of on the GPU.
    """

    gives_confidence = True  # the objects' presence scores

    def __init__(
        self,
        folder: str | os.PathLike,
        family: str = "sam2",
        device: str = "auto",
        fp16: bool = False,
        name: str | None = None,
        offload_state: bool = False,
    ):
        from transformers import Sam2VideoProcessor

        _, video_class = model_classes(family)
        self.name = name or Path(folder).name
        self.device = resolve_device(device)
        self.fp16 = fp16 and self.device.startswith("cuda")
        self.offload_state = offload_state
        self.model = load_pretrained(video_class, folder, f"a {family} video model").to(self.device).eval()
        self.processor = load_pretrained(Sam2VideoProcessor, folder, f"a {family} video processor")
        config = self.model.config
        #: Tracked frames the memory bank can read: memory features and object pointers.
        self.recent = max(config.num_maskmem, config.max_object_pointers_in_encoder)
        self.session = None
        self._frame = -1  # the session's index of the frame last added
        self._ids: list[int] = []  # user object ids in the session's order

    def reset(self, image: np.ndarray, labels: np.ndarray) -> None:
        self._check(image, labels)
        state_device = "cpu" if self.offload_state else self.device
        self.session = self.processor.init_video_session(
            inference_device=self.device,
            inference_state_device=state_device,
            video_storage_device=state_device,
        )
        self._frame = 0
        self._ids = []
        self._condition(image, labels)
        self.confidence = 1.0
        self.confidences = dict.fromkeys(self._ids, 1.0)

    def step(self, image: np.ndarray) -> np.ndarray:
        if self.session is None:
            raise RuntimeError("Sam2Tracker.step() before reset(): give it a reference frame first")
        self._check(image)
        self._frame += 1
        if not self._ids:  # no object yet (an empty keyframe): nothing to track
            self.confidence, self.confidences = None, {}
            return np.zeros(image.shape[:2], np.uint8)
        with self._inference():
            out = self.model(inference_session=self.session, frame_idx=self._frame, frame=self._pixels(image))
            logits = self.processor.post_process_masks(
                [out.pred_masks.float().cpu()], original_sizes=[image.shape[:2]], binarize=False
            )[0][:, 0]
            present = torch.sigmoid(out.object_score_logits.float().reshape(-1).cpu())
        self.confidence = float(present.min()) if len(present) else None
        self.confidences = dict(zip(self._ids, map(float, present.tolist()), strict=True))
        self._forget_old()
        best = logits.argmax(dim=0).numpy()
        inside = (logits.max(dim=0).values > 0).numpy()
        to_user_id = np.asarray(self._ids, dtype=np.uint8)
        return np.where(inside, to_user_id[best], 0).astype(np.uint8)

    def correct(self, image: np.ndarray, labels: np.ndarray) -> None:
        """The corrected labels become a conditioning frame at the current frame; the memory bank is kept."""
        if self.session is None:
            self.reset(image, labels)
            return
        self._check(image, labels)
        self._condition(image, labels)
        self.confidence = 1.0
        self.confidences = dict.fromkeys(self._ids, 1.0)

    def _condition(self, image: np.ndarray, labels: np.ndarray) -> None:
        """Give every object (known or new) its mask on the current frame as a conditioning input."""
        new = [int(k) for k in np.unique(labels[labels > 0]) if int(k) not in self._ids]
        self._ids += new
        session, frame = self.session, self._frame
        for obj_idx in range(session.get_obj_num()):  # a tracked frame turns into a conditioning one
            session.output_dict_per_obj[obj_idx]["non_cond_frame_outputs"].pop(frame, None)
            session.frames_tracked_per_obj[obj_idx].pop(frame, None)
        if not self._ids:  # nothing to track yet: an empty label map
            return
        self.processor.add_inputs_to_inference_session(
            session, frame_idx=frame, obj_ids=list(self._ids), input_masks=[labels == k for k in self._ids]
        )
        with self._inference():
            self.model(inference_session=session, frame_idx=frame, frame=self._pixels(image))
        for (
            inputs
        ) in session.mask_inputs_per_obj.values():  # consumed: the conditioning output holds them now
            inputs.pop(frame, None)
        self._forget_old()

    def _forget_old(self) -> None:
        """Keep only what the memory bank reads: conditioning outputs and the last ``recent`` tracked frames."""
        session, oldest = self.session, self._frame - self.recent
        for index in [i for i in session.processed_frames if i != self._frame]:
            del session.processed_frames[index]
        for obj_idx in range(session.get_obj_num()):
            outputs = session.output_dict_per_obj[obj_idx]
            for index in [i for i in outputs["non_cond_frame_outputs"] if i < oldest]:
                del outputs["non_cond_frame_outputs"][index]
            for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
                for out in outputs[kind].values():
                    out.pop("high_res_masks", None)  # only the memory encoder of that same frame reads it
            tracked = session.frames_tracked_per_obj[obj_idx]
            for index in [i for i in tracked if i < oldest]:
                del tracked[index]

    def _pixels(self, image: np.ndarray) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def _inference(self):
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.fp16:
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    @staticmethod
    def _check(image: np.ndarray, labels: np.ndarray | None = None) -> None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"the tracker wants an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
        if labels is not None and (labels.dtype != np.uint8 or labels.shape != image.shape[:2]):
            raise InputError(
                f"the tracker wants a uint8 label map of the image's size {image.shape[:2]}, "
                f"got {labels.dtype} {labels.shape}"
            )
