"""Flow-guided feature propagation between the local (neighbour) frames.

Two recurrent passes over the local frames (one walking backwards, one forwards),
each aligning the running feature to the current frame with a second-order
deformable convolution whose offsets are the optical flow plus a learnt residual
(the BasicVSR++ scheme), then a 1x1 fusion of both passes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from .spynet import flow_warp

#: The columns one step of ``modulated_deform_conv3x3`` builds (input channels x 9 taps x output pixels, float32) are
#: kept under this many bytes: the output is made in bands of rows.
COLUMN_BYTES = 64 * 2**20


def modulated_deform_conv3x3(
    x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """torchvision's ``deform_conv2d`` for a 3x3 kernel, stride 1, padding 1, with ``mask`` (modulated, DCNv2):
    the same sums, on the CPU several times faster.

    torchvision's CPU kernel gathers the columns one sample at a time (about 390 ms for one of the alignment's
    convolutions at 60x108 on two cores); here each tap's samples of each offset group are one bilinear
    ``grid_sample`` (zeros off the image, as there) and the sum one matrix product (85 ms). ``offset`` holds, per
    offset group and tap, (dy, dx); ``mask`` one weight per group and tap.
    """
    b, c, h, w = x.shape
    taps = 9
    groups = offset.shape[1] // (2 * taps)
    tap_y, tap_x = torch.meshgrid(
        torch.arange(-1, 2, dtype=x.dtype, device=x.device),
        torch.arange(-1, 2, dtype=x.dtype, device=x.device),
        indexing="ij",
    )
    offset = offset.view(b, groups, taps, 2, h, w)
    mask = mask.view(b, groups, 1, taps, h, w)
    image = x.reshape(b * groups, c // groups, h, w)
    # (out, in x tap): the order the columns are stacked in
    kernel = weight.reshape(weight.shape[0], c * taps)
    rows = max(1, COLUMN_BYTES // (c * taps * w * x.element_size()))
    out = []
    for top in range(0, h, rows):
        band = slice(top, min(h, top + rows))
        n = band.stop - band.start
        ys = torch.arange(band.start, band.stop, dtype=x.dtype, device=x.device).view(1, 1, 1, n, 1)
        xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, 1, w)
        ys = ys + tap_y.reshape(1, 1, taps, 1, 1) + offset[:, :, :, 0, band]
        xs = xs + tap_x.reshape(1, 1, taps, 1, 1) + offset[:, :, :, 1, band]
        # pixel (x, y) in grid_sample's coordinates (-1 and 1 the outer edges of the image's corner pixels)
        grid = torch.stack(((2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1), -1).view(b * groups, taps * n, w, 2)
        sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        columns = (sampled.view(b, groups, c // groups, taps, n, w) * mask[..., band, :]).view(
            b, c * taps, n * w
        )
        out.append((kernel @ columns).view(b, -1, n, w))
    return torch.cat(out, 2) + bias.view(1, -1, 1, 1)


class SecondOrderDeformableAlignment(nn.Module):
    """Modulated 3x3 deformable conv that aligns [feat_n1, feat_n2] (2c channels) to the current frame.

    The first half of the deform groups sees feat_n1 and is offset around flow_n1, the
    second half sees feat_n2 around flow_n2; residual offsets are bounded by
    ``max_residue_magnitude`` through tanh.
    """

    def __init__(self, channels: int, deform_groups: int = 16, max_residue_magnitude: float = 10.0):
        super().__init__()
        self.deform_groups = deform_groups
        self.max_residue_magnitude = max_residue_magnitude
        self.weight = nn.Parameter(torch.empty(channels, 2 * channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        # Condition: [cond_n1, feat_current, cond_n2] (3c) + two flows (4) -> (o1, o2, mask), 9 taps per group.
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * channels + 4, channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, 27 * deform_groups, 3, 1, 1),
        )

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor, flow_n1: torch.Tensor, flow_n2: torch.Tensor
    ) -> torch.Tensor:
        out = self.conv_offset(torch.cat([condition, flow_n1, flow_n2], dim=1))
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        residual = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        # Offsets are (dy, dx) pairs per group and tap; flows are (dx, dy), hence flip(1).
        taps_per_half = residual.shape[1] // 4
        base = torch.cat(
            [flow_n1.flip(1).repeat(1, taps_per_half, 1, 1), flow_n2.flip(1).repeat(1, taps_per_half, 1, 1)],
            dim=1,
        )
        if x.is_cuda:  # torchvision's CUDA kernel; ours is timed and checked on the CPU only
            return deform_conv2d(
                x, residual + base, self.weight, self.bias, padding=(1, 1), mask=torch.sigmoid(mask)
            )
        return modulated_deform_conv3x3(x, residual + base, self.weight, self.bias, torch.sigmoid(mask))


class BidirectionalPropagation(nn.Module):
    """Propagate features along the local frames in both directions and fuse them.

    Faithful to the checkpoints' training code, which differs from BasicVSR++ in two ways:
    the generator hands its *forward* flows to the backward pass (and backward flows to the
    forward pass), and both passes take the flow for step i from index i - 1, i.e. the
    backward pass walks its frames in reverse but reads its flows in forward order.
    """

    directions = ("backward_", "forward_")

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, direction in enumerate(self.directions):
            self.deform_align[direction] = SecondOrderDeformableAlignment(channels)
            # The forward pass also sees the backward pass's result for the same frame.
            self.backbone[direction] = nn.Sequential(
                nn.Conv2d((2 + i) * channels, channels, 3, 1, 1),
                nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(channels, channels, 3, 1, 1),
            )
        self.fusion = nn.Conv2d(2 * channels, channels, 1, 1, 0)

    def _propagate(
        self, direction: str, frames: list[torch.Tensor], flows: torch.Tensor, earlier: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """One recurrent pass; returns the propagated feature of every frame, in frame order."""
        t = len(frames)
        order = range(t - 1, -1, -1) if direction == "backward_" else range(t)
        align, backbone = self.deform_align[direction], self.backbone[direction]
        propagated: list[torch.Tensor] = []
        feat_prop = torch.zeros_like(frames[0])
        for step, idx in enumerate(order):
            feat_current = frames[idx]
            if step > 0:
                flow_n1 = flows[:, step - 1]
                cond_n1 = flow_warp(feat_prop, flow_n1)
                if step > 1:
                    feat_n2 = propagated[-2]
                    flow_n2 = flow_n1 + flow_warp(flows[:, step - 2], flow_n1)
                    cond_n2 = flow_warp(feat_n2, flow_n2)
                else:
                    feat_n2 = torch.zeros_like(feat_prop)
                    flow_n2 = torch.zeros_like(flow_n1)
                    cond_n2 = torch.zeros_like(cond_n1)
                condition = torch.cat([cond_n1, feat_current, cond_n2], dim=1)
                feat_prop = align(torch.cat([feat_prop, feat_n2], dim=1), condition, flow_n1, flow_n2)
            backbone_in = [feat_current] + [e[idx] for e in earlier] + [feat_prop]
            feat_prop = feat_prop + backbone(torch.cat(backbone_in, dim=1))
            propagated.append(feat_prop)
        return propagated[::-1] if direction == "backward_" else propagated

    def forward(
        self, x: torch.Tensor, flows_for_backward_pass: torch.Tensor, flows_for_forward_pass: torch.Tensor
    ) -> torch.Tensor:
        """x: (b, t, c, h, w); flows: (b, t - 1, 2, h, w). Returns (b, t, c, h, w)."""
        b, t, c, h, w = x.shape
        frames = list(x.unbind(1))
        backward = self._propagate("backward_", frames, flows_for_backward_pass, [])
        forward = self._propagate("forward_", frames, flows_for_forward_pass, [backward])
        fused = self.fusion(
            torch.cat([torch.stack(backward, 1), torch.stack(forward, 1)], dim=2).view(b * t, 2 * c, h, w)
        )
        return fused.view(b, t, c, h, w) + x
