"""DeAOT's FPN decoder: from the LSTT output at 1/16 to per-identity logits at 1/4."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvGN(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.gn = nn.GroupNorm(groups, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(self.conv(x))


class FPNDecoder(nn.Module):
    """Upsamples 1/16 -> 1/8 -> 1/4, adding 1x1-adapted encoder features at each scale.

    The shortcuts are the encoder's layer1, layer2 and (unprojected, 1024-channel) layer3.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, shortcut_dims: tuple[int, int, int]):
        super().__init__()
        dim4, dim8, dim16 = shortcut_dims
        self.conv_in = ConvGN(in_dim, hidden_dim, 1)
        self.conv_16x = ConvGN(hidden_dim, hidden_dim, 3)
        self.conv_8x = ConvGN(hidden_dim, hidden_dim // 2, 3)
        self.conv_4x = ConvGN(hidden_dim // 2, hidden_dim // 2, 3)
        self.adapter_16x = nn.Conv2d(dim16, hidden_dim, 1)
        self.adapter_8x = nn.Conv2d(dim8, hidden_dim, 1)
        self.adapter_4x = nn.Conv2d(dim4, hidden_dim // 2, 1)
        self.conv_out = nn.Conv2d(hidden_dim // 2, out_dim, 1)

    def forward(self, x: torch.Tensor, shortcuts: list[torch.Tensor]) -> torch.Tensor:
        x4, x8, x16 = shortcuts
        x = F.relu(self.conv_in(x))
        x = F.relu(self.conv_16x(self.adapter_16x(x16) + x))
        x = F.interpolate(x, size=x8.shape[-2:], mode="bilinear", align_corners=True)
        x = F.relu(self.conv_8x(self.adapter_8x(x8) + x))
        x = F.interpolate(x, size=x4.shape[-2:], mode="bilinear", align_corners=True)
        x = F.relu(self.conv_4x(self.adapter_4x(x4) + x))
        return self.conv_out(x)
