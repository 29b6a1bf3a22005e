"""Sparse autoencoder: H = relu(X We + be) with We pruned and stored CSR; Y = H Wd + bd."""

from __future__ import annotations

from typing import Any

import torch
from fuseflow.frontend.annotation import annotate
from fuseflow.frontend.zoo import ModelSpec, Option
from fuseflow.frontend.zoo._common import csr_tensor, need_kind, seeded
from fuseflow.ir.errors import FrontendError
from torch import nn


class Encoder(nn.Module):
    fuseflow_layer = True

    def __init__(self, we: torch.Tensor, be: torch.Tensor) -> None:
        super().__init__()
        self.we = nn.Parameter(we)  # (pixels, hidden), half of it zero
        self.be = nn.Parameter(be)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ annotate(self.we, "CSR") + self.be)


class Decoder(nn.Module):
    fuseflow_layer = True

    def __init__(self, wd: torch.Tensor, bd: torch.Tensor) -> None:
        super().__init__()
        self.wd = nn.Parameter(wd)  # (hidden, pixels)
        self.bd = nn.Parameter(bd)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.wd + self.bd


class SparseAutoencoder(nn.Module):
    def __init__(self, pixels: int, hidden: int, sparsity: float, gen: torch.Generator) -> None:
        super().__init__()
        bound = 1.0 / pixels ** 0.5
        we = (torch.rand(pixels, hidden, generator=gen) * 2 - 1) * bound
        cut = torch.quantile(we.abs().flatten()[: 1 << 24], sparsity) if sparsity > 0 else -1.0
        we = we * (we.abs() > cut)  # magnitude pruning
        wd = (torch.rand(hidden, pixels, generator=gen) * 2 - 1) / hidden ** 0.5
        self.enc = Encoder(we, (torch.rand(hidden, generator=gen) * 2 - 1) * bound)
        self.dec = Decoder(wd, (torch.rand(pixels, generator=gen) * 2 - 1) / hidden ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(x))


def build(opts: dict[str, Any], data: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    need_kind("sae", data, ("images", "matrix"))
    x = data.batch if hasattr(data, "batch") else data.matrix
    if opts["batch"] > x.shape[0]:
        raise FrontendError(f"sae: batch {opts['batch']} but the data set has {x.shape[0]} rows")
    x = x[: opts["batch"]]
    hidden = opts["hidden"] or getattr(data, "hidden", 0) or max(1, x.shape[1] // 4)
    if not 0 <= opts["sparsity"] < 1:
        raise FrontendError(f"sae: sparsity must be in [0, 1), got {opts['sparsity']}")
    model = SparseAutoencoder(x.shape[1], hidden, opts["sparsity"], seeded(opts["seed"]))
    return model, (csr_tensor(x),)


SPEC = ModelSpec(
    name="sae",
    description="sparse autoencoder: relu(X We + be) (X and We CSR), then H Wd + bd",
    options=(Option("batch", int, 32, "images per batch"),
             Option("hidden", int, 0, "hidden size (0 = the data set's: 256/512/512, else pixels/4)"),
             Option("sparsity", float, 0.5, "fraction of encoder weights pruned (by magnitude)"),
             Option("seed", int, 0, "weight seed")),
    factory=build,
    index_names={"x": ("image", "pixel")},
    default_dataset="images:side=16",
    dataset_kinds=("images", "matrix"),
)
