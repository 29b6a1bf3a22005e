"""GraphSAGE, 2 layers: H = relu(X W1s + b1s + agg(A, X) W1n + b1n), same again for Y."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from fuseflow.frontend.annotation import annotate
from fuseflow.frontend.zoo import ModelSpec, Option
from fuseflow.frontend.zoo._common import csr_tensor, feature_format, init_linear, need_kind, seeded
from fuseflow.ir.errors import FrontendError
from torch import nn


class SageConv(nn.Module):
    """Self term plus aggregated neighbours (sum, or mean = sum / degree)."""

    fuseflow_layer = True

    def __init__(self, fin: int, fout: int, aggr: str) -> None:
        super().__init__()
        self.lin_self = nn.Linear(fin, fout)
        self.lin_neigh = nn.Linear(fin, fout)
        self.aggr = aggr

    def forward(self, a: torch.Tensor, x: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        agg = a @ x
        if self.aggr == "mean":
            agg = agg / deg[:, None]
        return torch.relu(self.lin_self(x) + self.lin_neigh(agg))


class GraphSAGE(nn.Module):
    def __init__(self, features: int, hidden: int, classes: int, aggr: str, deg: torch.Tensor,
                 x_format: str | None = None) -> None:
        super().__init__()
        self.x_format = x_format
        self.register_buffer("deg", deg)
        self.l1 = SageConv(features, hidden, aggr)
        self.l2 = SageConv(hidden, classes, aggr)

    def forward(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.x_format:
            x = annotate(x, self.x_format)
        return self.l2(a, self.l1(a, x, self.deg), self.deg)


def build(opts: dict[str, Any], data: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    need_kind("graphsage", data, ("graph",))
    if opts["aggr"] not in ("mean", "sum"):
        raise FrontendError(f"graphsage: aggr must be mean or sum, got {opts['aggr']!r}")
    deg = np.maximum(np.asarray(data.adjacency.sum(axis=1)).reshape(-1), 1.0).astype(np.float32)
    model = GraphSAGE(data.num_features, opts["hidden"], opts["classes"] or data.num_classes, opts["aggr"],
                      torch.from_numpy(deg), feature_format("graphsage", opts["features"]))
    gen = seeded(opts["seed"])
    for layer in (model.l1, model.l2):
        init_linear(layer.lin_self, gen)
        init_linear(layer.lin_neigh, gen)
    return model, (csr_tensor(data.adjacency), torch.from_numpy(data.features))


SPEC = ModelSpec(
    name="graphsage",
    description="2-layer GraphSAGE: relu(lin_self(X) + lin_neigh(agg(A X))) twice",
    options=(Option("hidden", int, 16, "hidden features"),
             Option("classes", int, 0, "output features (0 = the data set's classes)"),
             Option("aggr", str, "mean", "neighbour aggregation: mean (A X / degree) or sum (A X)"),
             Option("features", str, "dense", "storage of the node features X: dense or csr"),
             Option("seed", int, 0, "weight seed")),
    factory=build,
    index_names={"a": ("node", "node"), "x": ("node", "feature")},
    default_dataset="karate",
    dataset_kinds=("graph",),
)
