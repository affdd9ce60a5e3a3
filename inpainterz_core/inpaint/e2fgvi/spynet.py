"""SPyNet optical flow, as E2FGVI uses it to estimate flows between neighbouring frames.

A six-level image pyramid: at each level a small conv net predicts a residual flow
from (reference, supporting image warped by the upsampled coarser flow, that flow).
The module and parameter names follow the official checkpoints (``update_spynet.*``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``x`` (n, c, h, w) at each pixel plus ``flow`` (n, 2, h, w; channel 0 = dx, 1 = dy).

    Bilinear with ``align_corners=True``, so a flow of 0 returns ``x`` exactly.
    """
    n, _, h, w = x.shape
    ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
    # Pixel coordinates to [-1, 1]; max(.., 1) keeps a one-pixel axis finite.
    grid_x = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    grid_y = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((grid_x, grid_y), dim=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


class _ConvAct(nn.Module):
    """A 7x7 conv, optionally followed by ReLU (named ``conv`` like mmcv's ConvModule)."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=7, padding=3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x, inplace=True) if self.relu else x


class _FlowLevel(nn.Module):
    """One pyramid level: (ref 3, warped supp 3, flow 2) channels -> residual flow (2)."""

    def __init__(self):
        super().__init__()
        widths = [8, 32, 64, 32, 16, 2]
        self.basic_module = nn.Sequential(*(_ConvAct(widths[i], widths[i + 1], relu=i < 4) for i in range(5)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SPyNet(nn.Module):
    """Flow from ``ref`` to ``supp`` (both (n, 3, h, w) in [0, 1]), in pixels of the input size."""

    levels = 6

    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList(_FlowLevel() for _ in range(self.levels))
        # ImageNet statistics; stored in the checkpoint, so they are buffers.
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _pyramid_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Coarse-to-fine flow on images whose sides are multiples of 32."""
        ref_levels = [(ref - self.mean) / self.std]
        supp_levels = [(supp - self.mean) / self.std]
        for _ in range(self.levels - 1):
            ref_levels.append(F.avg_pool2d(ref_levels[-1], kernel_size=2, stride=2))
            supp_levels.append(F.avg_pool2d(supp_levels[-1], kernel_size=2, stride=2))

        n, _, h, w = ref_levels[-1].shape
        flow = ref.new_zeros(n, 2, h, w)
        for level, module in enumerate(self.basic_module):
            ref_l, supp_l = ref_levels[-1 - level], supp_levels[-1 - level]
            if level > 0:
                flow = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(supp_l, flow, padding_mode="border")
            flow = flow + module(torch.cat([ref_l, warped, flow], dim=1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[2:]
        h_up, w_up = -(-h // 32) * 32, -(-w // 32) * 32
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self._pyramid_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        # Flow values are pixels of the resized image: scale them back per axis.
        scale = flow.new_tensor([w / w_up, h / h_up]).view(1, 2, 1, 1)
        return flow * scale
