"""The DeAOT network (Yang & Yang, "Decoupling Features in Hierarchical Propagation for VOS").

Parameter names follow the official checkpoints so they load strictly. The
network itself is stateless; ``engine.py`` keeps the per-video memories.

Builders (like segment-anything's ``build_sam``): ``build_deaot("r50_deaotl")``.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...checkpoints import load_into
from .decoder import FPNDecoder
from .encoder import ResNet50Encoder
from .layers import FrameOutput, LongShortTermTransformer, seq_from_2d

MAX_OBJECTS = 10  # identities one network pass can carry (plus background)


class ImageFeatures(NamedTuple):
    """Encoder output of one frame: decoder shortcuts at 1/4, 1/8, 1/16 and the LSTT input at 1/16."""

    shortcuts: list[torch.Tensor]
    embedding: torch.Tensor

    @property
    def size_2d(self) -> tuple[int, int]:
        return tuple(self.embedding.shape[-2:])


class DeAOT(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        encoder_dims: tuple[int, int, int],
        num_layers: int = 3,
        d_model: int = 256,
        max_objects: int = MAX_OBJECTS,
    ):
        super().__init__()
        self.max_objects = max_objects
        self.encoder = encoder
        self.encoder_projector = nn.Conv2d(encoder_dims[-1], d_model, 1)
        self.LSTT = LongShortTermTransformer(num_layers, d_model)
        self.decoder = FPNDecoder(2 * d_model, max_objects + 1, d_model, encoder_dims)
        # A 17x17 stride-16 conv so that 16k+1 sized masks map onto the (k+1)-sized feature grid.
        self.patch_wise_id_bank = nn.Conv2d(max_objects + 1, d_model, 17, stride=16, padding=8)
        self.id_norm = nn.LayerNorm(d_model)

    def encode_image(self, image: torch.Tensor) -> ImageFeatures:
        shortcuts = self.encoder(image)
        return ImageFeatures(shortcuts, self.encoder_projector(shortcuts[-1]))

    def identity_embedding(self, labels: torch.Tensor, obj_nums: int) -> torch.Tensor:
        """(h*w, n, c) identity embedding of a label map (n, 1, H, W) with ids 0..obj_nums.

        The one-hot mask is zero beyond obj_nums, so only those input channels of the
        ID bank are convolved (same result, a fraction of the work for few objects).
        """
        used = obj_nums + 1
        ids = torch.arange(used, device=labels.device).view(1, -1, 1, 1)
        one_hot = (labels == ids).to(self.patch_wise_id_bank.weight.dtype)
        bank = self.patch_wise_id_bank
        emb = F.conv2d(one_hot, bank.weight[:, :used], bank.bias, stride=bank.stride, padding=bank.padding)
        return self.id_norm(seq_from_2d(emb))

    def propagate(
        self, features: ImageFeatures, long_term=None, short_term=None, id_emb=None
    ) -> tuple[torch.Tensor, list[FrameOutput]]:
        """LSTT over one frame; returns the decoder input (h*w, n, 2c) and each layer's FrameOutput."""
        return self.LSTT(seq_from_2d(features.embedding), features.size_2d, long_term, short_term, id_emb)

    def decode(self, lstt_out: torch.Tensor, features: ImageFeatures) -> torch.Tensor:
        """Identity logits (n, max_objects + 1, h/4-ish, w/4-ish) from the LSTT output."""
        h, w = features.size_2d
        n = features.embedding.shape[0]
        x = lstt_out.view(h, w, n, -1).permute(2, 3, 0, 1)
        return self.decoder(x, features.shortcuts)


def _build_r50_deaotl() -> DeAOT:
    return DeAOT(ResNet50Encoder(), ResNet50Encoder.channels, num_layers=3)


BUILDERS = {"r50_deaotl": _build_r50_deaotl}


def build_deaot(name: str = "r50_deaotl", checkpoint: str | os.PathLike | None = None) -> DeAOT:
    """A DeAOT variant in eval mode, with the checkpoint's weights if one is given (random otherwise)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown DeAOT variant {name!r}; known: {', '.join(BUILDERS)}")
    model = BUILDERS[name]()
    if checkpoint is not None:
        load_into(model, checkpoint, f"DeAOT {name}")
    return model.eval()
