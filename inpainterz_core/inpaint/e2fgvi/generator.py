"""The E2FGVI inpainting generators (CVPR22 and HQ) and ``build_e2fgvi``.

Pipeline of one forward call over b clips of t frames, the first ``num_local_frames``
being consecutive neighbours and the rest sparse reference frames:
  1. SPyNet flows between consecutive local frames at 1/4 resolution;
  2. a conv encoder to (128, h/4, w/4) features for every frame;
  3. flow-guided bidirectional propagation among the local frames' features;
  4. a temporal focal transformer over all frames' tokens, added back as a residual;
  5. a conv decoder back to full resolution, tanh.
Module and parameter names match the official checkpoints (E2FGVI-CVPR22.pth,
E2FGVI-HQ-CVPR22.pth), so those load strictly.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ...checkpoints import load_into
from .alignment import BidirectionalPropagation
from .spynet import SPyNet
from .transformer import WINDOW, SoftComp, SoftSplit, TemporalFocalTransformerBlock, token_grid

CHANNELS = 128
HIDDEN = 512
DEPTH = 8
HEADS = 4


class Encoder(nn.Module):
    """Strided conv stem to 1/4 resolution, then grouped convs that each see the stem output again.

    ``layers`` alternates conv (even index) and LeakyReLU (odd index), as the checkpoint names them.
    Before each grouped conv the stem output and the running features are concatenated *per
    group* (group i gets [stem chunk i, features chunk i]), matching the convolution's groups.
    """

    # (in, out, stride, groups) of each conv.
    convs = [
        (3, 64, 2, 1),
        (64, 64, 1, 1),
        (64, 128, 2, 1),
        (128, 256, 1, 1),
        (256, 384, 1, 1),
        (640, 512, 1, 2),
        (768, 384, 1, 4),
        (640, 256, 1, 8),
        (512, 128, 1, 1),
    ]
    stem_layers = 8

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out, stride, groups in self.convs:
            layers += [nn.Conv2d(c_in, c_out, 3, stride, 1, groups=groups), nn.LeakyReLU(0.2, inplace=True)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[: self.stem_layers]:
            x = layer(x)
        stem = x
        bt, _, h, w = stem.shape
        for i in range(self.stem_layers, len(self.layers), 2):
            conv, act = self.layers[i], self.layers[i + 1]
            if i > self.stem_layers:
                g = conv.groups
                x = torch.cat([stem.view(bt, g, -1, h, w), x.view(bt, g, -1, h, w)], dim=2).view(bt, -1, h, w)
            x = act(conv(x))
        return x


class Upsample2xConv(nn.Module):
    """Bilinear x2 upsampling (align_corners=True), then a 3x3 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class InpaintGenerator(nn.Module):
    """E2FGVI generator. ``feature_size`` fixes the (h/4, w/4) feature grid (CVPR22) or leaves it free (HQ)."""

    def __init__(self, feature_size: tuple[int, int] | None = None):
        super().__init__()
        self.feature_size = feature_size
        self.encoder = Encoder()
        self.decoder = nn.Sequential(
            Upsample2xConv(CHANNELS, 128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 64, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            Upsample2xConv(64, 64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 3, kernel_size=3, padding=1),
        )
        self.feat_prop_module = BidirectionalPropagation(CHANNELS)
        self.ss = SoftSplit(CHANNELS, HIDDEN)
        self.sc = SoftComp(CHANNELS, HIDDEN, bias_map_size=feature_size)
        self.transformer = nn.ModuleList(TemporalFocalTransformerBlock(HIDDEN, HEADS) for _ in range(DEPTH))
        self.update_spynet = SPyNet()

    def check_input_size(self, h: int, w: int) -> None:
        """Raise ValueError unless frames of h x w pixels fit this generator."""
        if self.feature_size is not None:
            fixed = (4 * self.feature_size[0], 4 * self.feature_size[1])
            if (h, w) != fixed:
                raise ValueError(f"E2FGVI-CVPR22 takes exactly {fixed[0]}x{fixed[1]} frames, got {h}x{w}")
            return
        fh, fw = token_grid(h // 4, w // 4)
        if h % 4 or w % 4 or fh % WINDOW[0] or fw % WINDOW[1]:
            raise ValueError(
                f"E2FGVI-HQ needs h, w multiples of 4 with a token grid that is a multiple of {WINDOW}, "
                f"got {h}x{w} (pad frames to multiples of 60x108)"
            )

    def estimate_flows(self, local_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward (i -> i+1) and backward (i+1 -> i) flows of (b, n, 3, h, w) frames in [-1, 1],
        each (b, n - 1, 2, h/4, w/4)."""
        b, n, c, h, w = local_frames.shape
        qh, qw = h // 4, w // 4
        if n < 2:
            empty = local_frames.new_zeros(b, 0, 2, qh, qw)
            return empty, empty
        small = F.interpolate(
            ((local_frames + 1) / 2).reshape(b * n, c, h, w),
            size=(qh, qw),
            mode="bilinear",
            align_corners=True,
        ).view(b, n, c, qh, qw)
        earlier = small[:, :-1].reshape(-1, c, qh, qw)
        later = small[:, 1:].reshape(-1, c, qh, qw)
        # Both directions in one batch.
        flows = self.update_spynet(torch.cat([earlier, later]), torch.cat([later, earlier]))
        forward, backward = flows.view(2, b, n - 1, 2, qh, qw).unbind(0)
        return forward, backward

    def forward(
        self, masked_frames: torch.Tensor, num_local_frames: int
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """masked_frames: (b, t, 3, h, w) in [-1, 1], holes zeroed, local frames first.

        Returns the predicted frames (b*t, 3, h, w) in (-1, 1) and the (forward, backward) flows.
        """
        b, t, c, h, w = masked_frames.shape
        self.check_input_size(h, w)
        n_local = num_local_frames
        flows_forward, flows_backward = self.estimate_flows(masked_frames[:, :n_local])

        feats = self.encoder(masked_frames.reshape(b * t, c, h, w))
        _, fc, fh, fw = feats.shape
        feats = feats.view(b, t, fc, fh, fw)
        # The checkpoints were trained with the forward flows driving the backward pass: keep it.
        local = self.feat_prop_module(feats[:, :n_local], flows_forward, flows_backward)
        feats = torch.cat([local, feats[:, n_local:]], dim=1)

        tokens = self.ss(feats.view(b * t, fc, fh, fw), b)
        for block in self.transformer:
            tokens = block(tokens, (fh, fw))
        feats = feats + self.sc(tokens, (fh, fw)).view(b, t, fc, fh, fw)

        # The decoder's full-resolution convs run faster channels-last on CPU (oneDNN).
        decoded = self.decoder(feats.view(b * t, fc, fh, fw).contiguous(memory_format=torch.channels_last))
        frames = torch.tanh(decoded).contiguous()
        return frames, (flows_forward, flows_backward)


def _build_cvpr22() -> InpaintGenerator:
    return InpaintGenerator(feature_size=(60, 108))


def _build_hq() -> InpaintGenerator:
    return InpaintGenerator()


#: variant -> (builder, official checkpoint file name)
E2FGVI_VARIANTS = {
    "cvpr22": (_build_cvpr22, "E2FGVI-CVPR22.pth"),
    "hq": (_build_hq, "E2FGVI-HQ-CVPR22.pth"),
}


def build_e2fgvi(variant: str = "hq", checkpoint: str | os.PathLike | None = None) -> InpaintGenerator:
    """An E2FGVI generator in eval mode; with ``checkpoint``, its weights loaded strictly."""
    if variant not in E2FGVI_VARIANTS:
        raise ValueError(f"unknown E2FGVI variant {variant!r}; choose one of {sorted(E2FGVI_VARIANTS)}")
    builder, checkpoint_name = E2FGVI_VARIANTS[variant]
    model = builder()
    if checkpoint is not None:
        load_into(model, checkpoint, f"E2FGVI-{variant} ({checkpoint_name})")
    return model.eval()
