"""Temporal focal transformer: E2FGVI's content hallucination over all frames' tokens.

The (b*t, 128, h, w) feature maps are cut into overlapping 7x7 patches (stride 3, the
"soft split"), each patch becomes a 512-d token, eight transformer blocks mix tokens
across space and time, and the "soft composition" folds the tokens back into maps.
Each block attends, per 5x9 token window and across all frames, to
  * the window's own tokens,
  * a ring of nearby tokens around the window (taken from the window shifted by half
    its size in the four diagonal directions, wrapping around the border), and
  * a 5x9 neighbourhood of window-pooled tokens (zero-padded at the border, masked -100),
then a feed-forward layer whose hidden activations are averaged where patches overlap.

CVPR22 and HQ share everything here except how the soft composition adds its bias:
a learnt (128, 60, 108) map (CVPR22, hence its fixed input size) or a 3x3 conv (HQ).
Names follow the official checkpoints.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

PATCH = {"kernel_size": (7, 7), "stride": (3, 3), "padding": (3, 3)}
WINDOW = (5, 9)
#: How far the ring of extra keys reaches beyond a window: half the window size.
EXPAND = (WINDOW[0] // 2, WINDOW[1] // 2)
#: The ring comes from the window's content at these (row, col) offsets, in the checkpoints' order.
RING_OFFSETS = (
    (EXPAND[0], EXPAND[1]),
    (EXPAND[0], -EXPAND[1]),
    (-EXPAND[0], EXPAND[1]),
    (-EXPAND[0], -EXPAND[1]),
)
#: Border value added to the attention logits of zero-padded pooled keys.
POOLED_PAD_LOGIT = -100.0


def token_grid(h: int, w: int) -> tuple[int, int]:
    """Token grid of an (h, w) feature map under the 7x7 / stride 3 / padding 3 soft split."""
    return (h - 1) // 3 + 1, (w - 1) // 3 + 1


def rolled_ring_indices() -> torch.Tensor:
    """Of the window's content at each ``RING_OFFSETS`` offset (4 x wh*ww positions, flattened),
    the positions whose source lies outside the window: the ring keys.

    The official checkpoints store this as ``attn.valid_ind_rolled``.
    """
    wh, ww = WINDOW
    rows = torch.arange(wh).view(wh, 1)
    cols = torch.arange(ww).view(1, ww)
    outside = [
        (rows + dy < 0) | (rows + dy >= wh) | (cols + dx < 0) | (cols + dx >= ww) for dy, dx in RING_OFFSETS
    ]
    return torch.stack(outside).flatten().nonzero().view(-1)


class SoftSplit(nn.Module):
    """Feature maps (b*t, c, h, w) -> tokens (b, t, fh, fw, hidden) of overlapping 7x7 patches.

    ``embedding`` is a linear map of each unfolded patch (channel-major, as ``F.unfold`` lays
    it out), which is exactly a strided conv with the same weights: run it as one.
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.channels = channels
        k = PATCH["kernel_size"]
        self.embedding = nn.Linear(channels * k[0] * k[1], hidden)

    def forward(self, feats: torch.Tensor, b: int) -> torch.Tensor:
        hidden = self.embedding.out_features
        weight = self.embedding.weight.view(hidden, self.channels, *PATCH["kernel_size"])
        tokens = F.conv2d(
            feats, weight, self.embedding.bias, stride=PATCH["stride"], padding=PATCH["padding"]
        )
        _, _, fh, fw = tokens.shape
        return tokens.permute(0, 2, 3, 1).reshape(b, -1, fh, fw, hidden)


class SoftComp(nn.Module):
    """Tokens (b, t, fh, fw, hidden) -> feature maps (b*t, c, h, w), overlapping patches summed.

    ``bias_map_size`` set: add a learnt per-pixel bias map of that size (CVPR22);
    otherwise run the folded map through a 3x3 conv (HQ, any size).
    """

    def __init__(self, channels: int, hidden: int, bias_map_size: tuple[int, int] | None = None):
        super().__init__()
        k = PATCH["kernel_size"]
        self.embedding = nn.Linear(hidden, channels * k[0] * k[1])
        self.learnt_bias_map = bias_map_size is not None
        if self.learnt_bias_map:
            self.bias = nn.Parameter(torch.zeros(channels, *bias_map_size))
        else:
            self.bias_conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, tokens: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        b, t, fh, fw, hidden = tokens.shape
        patches = self.embedding(tokens.reshape(b * t, fh * fw, hidden)).transpose(1, 2)
        feats = F.fold(patches, output_size, **PATCH)
        return feats + self.bias if self.learnt_bias_map else self.bias_conv(feats)


class FusionFeedForward(nn.Module):
    """Token MLP whose hidden units are averaged over overlapping patches (fold, divide by count, unfold).

    The 1960 hidden units are read as 40 channels x 7x7 patch pixels.
    """

    hidden = 1960

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Linear(dim, self.hidden))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(self.hidden, dim))

    def forward(self, x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        x = self.conv1(x)
        b, n, c = x.shape
        fh, fw = token_grid(*output_size)
        n_patches = fh * fw
        patches = x.view(-1, n_patches, c).transpose(1, 2)
        k = PATCH["kernel_size"]
        counts = F.fold(x.new_ones(1, k[0] * k[1], n_patches), output_size, **PATCH)
        summed = F.fold(patches, output_size, **PATCH)
        x = F.unfold(summed / counts, **PATCH).transpose(1, 2).reshape(b, n, c)
        return self.conv2(x)


class TemporalFocalAttention(nn.Module):
    """Multi-head attention of each 5x9 window's tokens (all frames) to its own, ring and pooled keys."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.register_buffer("valid_ind_rolled", rolled_ring_indices())
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def _key_indices(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per window (rows), its keys as indices into [h*w tokens, pooled tokens, one zero token],
        and each key's logit bias (the zero token, a pooled key beyond the border, gets -100)."""
        (wh, ww), (eh, ew) = WINDOW, EXPAND
        nwh, nww = h // wh, w // ww
        arange = partial(torch.arange, device=self.valid_ind_rolled.device)
        # Token coordinates of every window position: (nwh, nww, wh, ww).
        rows = (arange(nwh) * wh).view(nwh, 1, 1, 1) + arange(wh).view(1, 1, wh, 1)
        cols = (arange(nww) * ww).view(1, nww, 1, 1) + arange(ww).view(1, 1, 1, ww)
        rows, cols = torch.broadcast_tensors(rows, cols)
        own = (rows * w + cols).reshape(nwh * nww, wh * ww)
        shifted = [((rows + dy) % h) * w + (cols + dx) % w for dy, dx in RING_OFFSETS]
        ring = torch.stack(shifted, dim=2).reshape(nwh * nww, 4 * wh * ww)[:, self.valid_ind_rolled]

        # Pooled keys: the wh x ww neighbourhood of the window's own pooled token.
        prow = arange(nwh).view(nwh, 1, 1, 1) + arange(wh).view(1, 1, wh, 1) - eh
        pcol = arange(nww).view(1, nww, 1, 1) + arange(ww).view(1, 1, 1, ww) - ew
        prow, pcol = torch.broadcast_tensors(prow, pcol)
        inside = ((prow >= 0) & (prow < nwh) & (pcol >= 0) & (pcol < nww)).reshape(nwh * nww, wh * ww)
        pooled = h * w + torch.where(inside, (prow * nww + pcol).reshape(inside.shape), nwh * nww)

        indices = torch.cat([own, ring, pooled], dim=1)
        bias = torch.zeros(indices.shape, device=indices.device)
        bias[:, -wh * ww :] = torch.where(inside, 0.0, POOLED_PAD_LOGIT)
        return indices, bias

    def forward(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """x: normalised tokens (b, t, h, w, c); pooled: one token per window (b, t, h/5, w/9, c)."""
        b, t, h, w, c = x.shape
        (wh, ww), heads = WINDOW, self.num_heads
        nwh, nww = h // wh, w // ww
        n_windows, hd = nwh * nww, c // heads
        key_indices, key_bias = self._key_indices(h, w)

        q, kv = self.qkv(x).split([c, 2 * c], dim=-1)
        # Queries: (b * heads, windows, t * wh * ww, hd); 4-D, which CPU attention runs with its fast kernel.
        q = q.reshape(b, t, nwh, wh, nww, ww, heads, hd).permute(0, 6, 2, 4, 1, 3, 5, 7)
        q = q.reshape(b * heads, n_windows, t * wh * ww, hd)

        # Key/value sources (2, b, heads, tokens, t, hd): every token, every pooled token, one zero token.
        kv_pooled = F.linear(pooled, self.qkv.weight[c:], self.qkv.bias[c:]).reshape(b, t, n_windows, 2 * c)
        sources = torch.cat([kv.reshape(b, t, h * w, 2 * c), kv_pooled, kv.new_zeros(b, t, 1, 2 * c)], dim=2)
        sources = sources.view(b, t, -1, 2, heads, hd).permute(3, 0, 4, 2, 1, 5).contiguous()
        # Selecting whole tokens (all t frames at once) gives the keys in the layout attention wants,
        # ordered (key, frame); attention does not depend on the keys' order.
        n_keys = key_indices.shape[1] * t
        keys_values = sources.index_select(3, key_indices.flatten())
        k, v = keys_values.view(2, b * heads, n_windows, n_keys, hd).unbind(0)
        bias = key_bias[:, :, None].expand(-1, -1, t).reshape(1, n_windows, 1, n_keys).to(q.dtype)

        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.view(b, heads, nwh, nww, t, wh, ww, hd).permute(0, 4, 2, 5, 3, 6, 1, 7)
        return self.proj(out.reshape(b, t, h, w, c))


class TemporalFocalTransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm1 x), then + feed-forward(norm2 x)."""

    def __init__(self, dim: int = 512, num_heads: int = 4):
        super().__init__()
        # One focal level beyond the window itself: a learnt linear pooling of each window.
        self.pool_layers = nn.ModuleList([nn.Linear(WINDOW[0] * WINDOW[1], 1)])
        self.norm1 = nn.LayerNorm(dim)
        self.attn = TemporalFocalAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim)

    def _pool_windows(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h, w, c = x.shape
        (wh, ww), pool = WINDOW, self.pool_layers[0]
        windows = x.reshape(b, t, h // wh, wh, w // ww, ww, c).permute(0, 1, 2, 4, 6, 3, 5)
        return F.linear(windows.reshape(b, t, h // wh, w // ww, c, wh * ww), pool.weight, pool.bias).squeeze(
            -1
        )

    def forward(self, x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        b, t, h, w, c = x.shape
        if h % WINDOW[0] or w % WINDOW[1]:
            raise ValueError(f"token grid {h}x{w} is not a multiple of the {WINDOW[0]}x{WINDOW[1]} window")
        y = self.norm1(x)
        x = x + self.attn(y, self._pool_windows(y))
        return x + self.mlp(self.norm2(x).view(b, t * h * w, c), output_size).view(b, t, h, w, c)
