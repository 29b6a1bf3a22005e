"""BigBird block-sparse attention on its own: one head, softmax(mask(Q K^T) * scale) V.

The kernel of the paper's parallelization study. The mask is the BigBird block pattern
(stored BSR with the given block); values stream as scalars unless compiled with --block.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from fuseflow.frontend.annotation import annotate
from fuseflow.frontend.zoo import ModelSpec, Option
from fuseflow.frontend.zoo._common import seeded
from fuseflow.frontend.zoo.gpt import bigbird_mask
from fuseflow.ir.errors import FrontendError
from torch import nn


class BigBirdAttention(nn.Module):
    def __init__(self, seq: int, d_head: int, block: int, seed: int) -> None:
        super().__init__()
        self.block = block
        self.scale = 1.0 / math.sqrt(d_head)
        self.register_buffer("mask", torch.from_numpy(bigbird_mask(seq, block, seed)))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        mask = annotate(self.get_buffer("mask"), f"BSR{self.block}")
        s = (q @ k.transpose(0, 1)).masked_fill(mask == 0, float("-inf"))
        return torch.softmax(s * self.scale, dim=-1) @ v


def build(opts: dict[str, Any], data: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    seq, d, block = opts["seq"], opts["d_head"], opts["block"]
    if block <= 0 or seq % block:
        raise FrontendError(f"bigbird-attention: block {block} does not divide seq {seq}")
    gen = seeded(opts["seed"])
    qkv = tuple(torch.randn(seq, d, generator=gen) for _ in range(3))
    return BigBirdAttention(seq, d, block, opts["seed"]), qkv


SPEC = ModelSpec(
    name="bigbird-attention",
    description="one head of BigBird block-sparse attention: softmax(mask(Q K^T)/sqrt(d)) V",
    options=(Option("seq", int, 1024, "sequence length"),
             Option("d_head", int, 64, "head width"),
             Option("block", int, 64, "BigBird block size (mask stored BSR with this block)"),
             Option("seed", int, 0, "seed of inputs and random blocks")),
    factory=build,
    index_names={},
    default_dataset=None,
    tiled_dims=lambda o: {"seq": o["seq"]},
)
