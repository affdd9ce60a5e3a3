"""DeAOT's Long Short-Term Transformer (LSTT) built from gated propagation layers.

Each layer carries two branches through the frame: a visual one (``tgt``) and an
identity one (``tgt_id``, the "where is each object" signal). A layer attends from
the current frame to

* long-term memory (reference frames, plus sparse later frames): global attention;
* short-term memory (the previous frame): attention inside a 15x15 window around
  each position, with a learned relative-position bias;

and then to itself (self-attention over both branches). Every attention is
"gated": softmax(Q K^T / sqrt(d)) V is multiplied elementwise by a gate U,
passed through a 5x5 depthwise conv and a linear projection.

Tensors in the sequence layout are (h*w, n, c), row-major over the feature grid.
Memory values store the visual value and the identity value concatenated on
channels, because the attention always aggregates both together.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def seq_to_2d(x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
    """(h*w, n, c) -> (n, c, h, w)."""
    h, w = size_2d
    _, n, c = x.shape
    return x.view(h, w, n, c).permute(2, 3, 0, 1)


def seq_from_2d(x: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) -> (h*w, n, c)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w).permute(2, 0, 1)


class DepthwiseConv(nn.Module):
    """5x5 depthwise conv applied to a sequence laid out on the feature grid."""

    def __init__(self, channels: int, kernel_size: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False
        )

    def forward(self, x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        return seq_from_2d(self.conv(seq_to_2d(x, size_2d)))


def global_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """softmax(q k^T * scale) v for one head; q (l, n, d), k (L, n, d), v (L, n, dv) -> (l, n, dv)."""
    out = F.scaled_dot_product_attention(
        q.permute(1, 0, 2).unsqueeze(1),
        k.permute(1, 0, 2).unsqueeze(1),
        v.permute(1, 0, 2).unsqueeze(1),
        scale=scale,
    )
    return out.squeeze(1).permute(1, 0, 2)


class GlobalGatedPropagation(nn.Module):
    """Long-term memory read-out: attention over every memory position."""

    def __init__(self, d_att: int, d_value: int, d_out: int):
        super().__init__()
        self.scale = d_att**-0.5
        self.dw_conv = DepthwiseConv(d_value)
        self.projection = nn.Linear(d_value, d_out)

    def forward(self, q, k, v, gate, size_2d):
        return self.projection(self.dw_conv(global_attention(q, k, v, self.scale) * gate, size_2d))


class LocalGatedPropagation(nn.Module):
    """Short-term memory read-out: each position attends to a (2r+1)^2 window of the memory frame.

    The reference computes window logits by unfolding the zero-padded keys (or with a
    CUDA correlation sampler), adds a learned bias per window cell (relative_emb_k,
    predicted from the query), drops the cells outside the frame, and scatters the
    softmax into a dense (h*w, h*w) matrix to aggregate the values. Here the same
    attention is one masked ``scaled_dot_product_attention``: the bias is scattered
    into a dense (h*w, h*w) mask that is -inf outside each window. Same numbers (the
    excluded cells get exactly zero weight either way), without the 225-fold
    unfolded key tensor, which dominated the CPU time.
    """

    def __init__(self, d_att: int, d_value: int, d_out: int, radius: int = 7):
        super().__init__()
        self.radius = radius
        self.window = 2 * radius + 1
        self.scale = d_att**-0.5
        self.relative_emb_k = nn.Conv2d(d_att, self.window * self.window, 1)
        self.dw_conv = DepthwiseConv(d_value)
        self.projection = nn.Linear(d_value, d_out)
        self._index_cache: dict = {}

    def _window_index(self, h: int, w: int, device) -> torch.Tensor:
        """(h*w, window^2) flat memory index of each window cell, or h*w where it falls outside the frame.

        Cells are in unfold order (row offset major), the order relative_emb_k was trained in.
        """
        key = (h, w, str(device))
        if key not in self._index_cache:
            offsets = torch.arange(self.window, device=device) - self.radius
            ys = torch.arange(h, device=device).view(h, 1, 1, 1) + offsets.view(1, 1, -1, 1)
            xs = torch.arange(w, device=device).view(1, w, 1, 1) + offsets.view(1, 1, 1, -1)
            inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
            index = torch.where(inside, ys * w + xs, h * w)
            self._index_cache[key] = index.reshape(h * w, self.window * self.window)
        return self._index_cache[key]

    def forward(self, q, k, v, gate, size_2d):
        h, w = size_2d
        hw, n, _ = q.shape
        relative = self.relative_emb_k(seq_to_2d(q, size_2d)).reshape(n, -1, hw).transpose(1, 2)
        index = self._window_index(h, w, q.device).expand(n, -1, -1)
        # The last column collects the cells outside the frame and is dropped.
        bias = relative.new_full((n, hw, hw + 1), float("-inf")).scatter_(2, index, relative)[..., :hw]
        aggregated = F.scaled_dot_product_attention(
            q.permute(1, 0, 2).unsqueeze(1),
            k.permute(1, 0, 2).unsqueeze(1),
            v.permute(1, 0, 2).unsqueeze(1),
            attn_mask=bias.unsqueeze(1),
            scale=self.scale,
        )
        aggregated = aggregated.squeeze(1).permute(1, 0, 2)
        return self.projection(self.dw_conv(aggregated * gate, size_2d))


class SelfGatedPropagation(nn.Module):
    """Self-attention over cat[visual, identity] with its own Q/K, value and gate projections.

    Value and gate are projected per half (visual half, identity half) and concatenated.
    """

    def __init__(self, d_in: int, d_att: int, d_value: int, d_out: int):
        super().__init__()
        self.scale = d_att**-0.5
        half_in, half_value = d_in // 2, d_value // 2
        self.linear_QK = nn.Linear(d_in, d_att)
        self.linear_V1 = nn.Linear(half_in, half_value)
        self.linear_V2 = nn.Linear(half_in, half_value)
        self.linear_U1 = nn.Linear(half_in, half_value)
        self.linear_U2 = nn.Linear(half_in, half_value)
        self.dw_conv = DepthwiseConv(d_value)
        self.projection = nn.Linear(d_value, d_out)

    def forward(self, x, size_2d):
        x1, x2 = x.chunk(2, dim=-1)
        qk = self.linear_QK(x)
        v = F.silu(torch.cat([self.linear_V1(x1), self.linear_V2(x2)], dim=-1))
        gate = F.silu(torch.cat([self.linear_U1(x1), self.linear_U2(x2)], dim=-1))
        return self.projection(self.dw_conv(global_attention(qk, qk, v, self.scale) * gate, size_2d))


class LayerMemory(NamedTuple):
    """What one frame leaves in one layer's memory: attention key and value (= cat[visual, identity])."""

    key: torch.Tensor
    value: torch.Tensor


class FrameOutput(NamedTuple):
    """What a layer computed for the current frame that its memory entry will be built from.

    ``id_input`` is the normalised identity branch entering the layer (None in the first layer);
    the identity value depends on it and on the frame's mask, which is only known after decoding.
    """

    key: torch.Tensor
    value: torch.Tensor
    id_input: torch.Tensor | None


class GatedPropagationLayer(nn.Module):
    def __init__(self, d_model: int = 256, d_att: int = 128, expand: int = 2, first: bool = False):
        super().__init__()
        d_expand = d_model * expand  # visual value width; identity value has the same width
        self.d_att = d_att
        self.d_model = d_model
        self.d_expand = d_expand
        self.norm1 = nn.LayerNorm(d_model)
        self.linear_QV = nn.Linear(d_model, d_att + d_expand)
        self.linear_U = nn.Linear(d_model, d_expand)
        if first:
            self.linear_ID_V = nn.Linear(d_model, d_expand)
        else:
            self.id_norm1 = nn.LayerNorm(d_model)
            self.linear_ID_V = nn.Linear(2 * d_model, d_expand)
            self.linear_ID_U = nn.Linear(d_model, d_expand)
        self.long_term_attn = GlobalGatedPropagation(d_att, 2 * d_expand, 2 * d_model)
        self.short_term_attn = LocalGatedPropagation(d_att, 2 * d_expand, 2 * d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.id_norm2 = nn.LayerNorm(d_model)
        self.self_attn = SelfGatedPropagation(2 * d_model, d_att, 2 * d_expand, 2 * d_model)

    def memory(self, frame: FrameOutput, id_emb: torch.Tensor) -> LayerMemory:
        """The memory entry of a frame once its objects' identity embedding is known."""
        if frame.id_input is None:
            id_value = F.silu(self.linear_ID_V(id_emb))
        else:
            id_value = F.silu(self.linear_ID_V(torch.cat([frame.id_input, id_emb], dim=-1)))
        return LayerMemory(frame.key, torch.cat([frame.value, id_value], dim=-1))

    def forward(
        self,
        tgt: torch.Tensor,
        tgt_id: torch.Tensor | None,
        size_2d: tuple[int, int],
        long_term: LayerMemory | None = None,
        short_term: LayerMemory | None = None,
        id_emb: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, FrameOutput]:
        """One layer. Given ``id_emb`` (a reference frame) the frame is its own long- and short-term memory."""
        x = self.norm1(tgt)
        query, value = self.linear_QV(x).split([self.d_att, self.d_expand], dim=-1)
        value = F.silu(value)
        gate_visual = self.linear_U(x)
        if tgt_id is None:
            id_input = None
            gate = torch.cat([F.silu(gate_visual), torch.ones_like(gate_visual)], dim=-1)
        else:
            id_input = self.id_norm1(tgt_id)
            gate = F.silu(torch.cat([gate_visual, self.linear_ID_U(id_input)], dim=-1))
        frame = FrameOutput(query, value, id_input)

        if id_emb is not None:
            long_term = short_term = self.memory(frame, id_emb)
        read = self.long_term_attn(query, long_term.key, long_term.value, gate, size_2d)
        read = read + self.short_term_attn(query, short_term.key, short_term.value, gate, size_2d)
        read_visual, read_id = read.split(self.d_model, dim=-1)
        tgt = tgt + read_visual
        tgt_id = read_id if tgt_id is None else tgt_id + read_id

        both = torch.cat([self.norm2(tgt), self.id_norm2(tgt_id)], dim=-1)
        update_visual, update_id = self.self_attn(both, size_2d).split(self.d_model, dim=-1)
        return tgt + update_visual, tgt_id + update_id, frame


class SequenceGroupNorm(nn.Module):
    """GroupNorm over the channels of a (h*w, n, c) sequence."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.gn = nn.GroupNorm(groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(x.permute(1, 2, 0)).permute(2, 0, 1)


class LongShortTermTransformer(nn.Module):
    """The stack of gated propagation layers; the output is GroupNorm(cat[visual, identity]) of the last one."""

    def __init__(self, num_layers: int = 3, d_model: int = 256):
        super().__init__()
        self.layers = nn.ModuleList(GatedPropagationLayer(d_model, first=(i == 0)) for i in range(num_layers))
        self.decoder_norms = nn.ModuleList([SequenceGroupNorm(2 * d_model, groups=2)])

    def forward(
        self,
        emb: torch.Tensor,
        size_2d: tuple[int, int],
        long_term: list[LayerMemory] | None = None,
        short_term: list[LayerMemory] | None = None,
        id_emb: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[FrameOutput]]:
        tgt, tgt_id = emb, None
        frames = []
        for idx, layer in enumerate(self.layers):
            tgt, tgt_id, frame = layer(
                tgt,
                tgt_id,
                size_2d,
                long_term[idx] if long_term is not None else None,
                short_term[idx] if short_term is not None else None,
                id_emb,
            )
            frames.append(frame)
        return self.decoder_norms[0](torch.cat([tgt, tgt_id], dim=-1)), frames
