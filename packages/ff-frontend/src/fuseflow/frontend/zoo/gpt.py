"""GPT-3 decoders with BigBird block-sparse attention.

Per decoder: (LN + Q/K/V projections), (S = Q K^T sampled at the block mask, scale,
masked softmax, S V), (out projection + residual + LN + FFN with GELU + residual). Head
split and merge are reshapes, i.e. fusion barriers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from fuseflow.frontend.annotation import annotate
from fuseflow.frontend.zoo import ModelSpec, Option
from fuseflow.frontend.zoo._common import init_linear, seeded
from fuseflow.ir.errors import FrontendError
from torch import nn


def bigbird_mask(seq: int, block: int, seed: int = 0, random_blocks: int = 2, global_blocks: int = 2) -> np.ndarray:
    """0/1 (seq x seq) mask: per block row the diagonal block and its two neighbours,
    ``random_blocks`` seeded random blocks, plus the first ``global_blocks`` block rows
    and columns."""
    nb = seq // block
    rng = np.random.default_rng(seed)
    keep = np.zeros((nb, nb), dtype=bool)
    for r in range(nb):
        keep[r, max(r - 1, 0):min(r + 2, nb)] = True
        free = np.flatnonzero(~keep[r])
        if len(free):
            keep[r, rng.choice(free, min(random_blocks, len(free)), replace=False)] = True
    keep[:global_blocks, :] = True
    keep[:, :global_blocks] = True
    return np.kron(keep, np.ones((block, block), dtype=bool)).astype(np.float32)


class PreAttention(nn.Module):
    """LayerNorm and the Q, K, V projections."""

    fuseflow_layer = True

    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.ln(x)
        return self.q(h), self.k(h), self.v(h)


class BlockSparseAttention(nn.Module):
    """softmax(mask(Q K^T) / sqrt(d_head)) V per head; the mask is block-sparse (BSR)."""

    fuseflow_layer = True

    def __init__(self, heads: int, d_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.d_head = d_head
        self.scale = 1.0 / math.sqrt(d_head)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        seq = q.shape[0]
        qh = q.view(seq, self.heads, self.d_head).transpose(0, 1)  # (heads, seq, d_head)
        kh = k.view(seq, self.heads, self.d_head).transpose(0, 1)
        vh = v.view(seq, self.heads, self.d_head).transpose(0, 1)
        s = (qh @ kh.transpose(1, 2)).masked_fill(mask == 0, float("-inf"))  # SDDMM
        p = torch.softmax(s * self.scale, dim=-1)
        o = p @ vh  # SpMM
        return o.transpose(0, 1).reshape(seq, self.heads * self.d_head)


class PostAttention(nn.Module):
    """Out projection + residual, LayerNorm, FFN (GELU) + residual."""

    fuseflow_layer = True

    def __init__(self, d: int, ffn: int) -> None:
        super().__init__()
        self.out = nn.Linear(d, d)
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)

    def forward(self, x: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        x = x + self.out(o)
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln(x))))


class Decoder(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.pre = PreAttention(d)
        self.attn = BlockSparseAttention(heads, d // heads)
        self.post = PostAttention(d, ffn)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.pre(x)
        return self.post(x, self.attn(q, k, v, mask))


class GPTBigBird(nn.Module):
    def __init__(self, seq: int, d: int, heads: int, ffn: int, decoders: int, block: int, seed: int) -> None:
        super().__init__()
        self.block = block
        self.register_buffer("mask", torch.from_numpy(bigbird_mask(seq, block, seed)))
        self.dec = nn.ModuleList([Decoder(d, heads, ffn) for _ in range(decoders)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = annotate(self.get_buffer("mask"), f"BSR{self.block}")
        for layer in self.dec:
            x = layer(x, mask)
        return x


def build(opts: dict[str, Any], data: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    seq, d, heads, block = opts["seq"], opts["d_model"], opts["heads"], opts["block"]
    if d % heads:
        raise FrontendError(f"gpt3-bigbird: d_model {d} is not a multiple of heads {heads}")
    if block <= 0 or seq % block:
        raise FrontendError(f"gpt3-bigbird: block {block} does not divide seq {seq}")
    ffn = opts["ffn"] or 4 * d
    gen = seeded(opts["seed"])
    model = GPTBigBird(seq, d, heads, ffn, opts["decoders"], block, opts["seed"])
    for m in model.modules():
        if isinstance(m, nn.Linear):
            init_linear(m, gen)
    x = torch.randn(seq, d, generator=gen)
    return model, (x,)


SPEC = ModelSpec(
    name="gpt3-bigbird",
    description="GPT-3 decoders with BigBird block-sparse attention (defaults: GPT-3 Small)",
    options=(Option("seq", int, 1024, "sequence length"),
             Option("d_model", int, 768, "model width"),
             Option("heads", int, 12, "attention heads"),
             Option("ffn", int, 0, "FFN width (0 = 4 x d_model, 3072 at the defaults)"),
             Option("decoders", int, 12, "decoder layers"),
             Option("block", int, 16, "BigBird block size (mask stored BSR with this block)"),
             Option("seed", int, 0, "seed of weights, inputs and random blocks")),
    factory=build,
    index_names={"x": ("token", "model")},
    default_dataset=None,
    tiled_dims=lambda o: {"seq": o["seq"], "d_model": o["d_model"]},
)
