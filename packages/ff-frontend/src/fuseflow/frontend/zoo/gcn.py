"""GCN, 2 layers (paper order): H = relu(lin1(A X)); Y = softmax(lin2(A H)) over classes."""

from __future__ import annotations

from typing import Any

import torch
from fuseflow.frontend.annotation import annotate
from fuseflow.frontend.zoo import ModelSpec, Option
from fuseflow.frontend.zoo._common import csr_tensor, feature_format, init_linear, need_kind, seeded
from torch import nn


class GraphConv(nn.Module):
    """One GCN layer: aggregate over neighbours (A X), then a linear map, then act."""

    fuseflow_layer = True

    def __init__(self, fin: int, fout: int, act: str) -> None:
        super().__init__()
        self.lin = nn.Linear(fin, fout)
        self.act = act

    def forward(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(a @ x)
        return torch.relu(h) if self.act == "relu" else torch.softmax(h, dim=1)


class GCN(nn.Module):
    def __init__(self, features: int, hidden: int, classes: int, x_format: str | None = None) -> None:
        super().__init__()
        self.x_format = x_format
        self.l1 = GraphConv(features, hidden, "relu")
        self.l2 = GraphConv(hidden, classes, "softmax")

    def forward(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.x_format:
            x = annotate(x, self.x_format)
        return self.l2(a, self.l1(a, x))


def build(opts: dict[str, Any], data: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    need_kind("gcn", data, ("graph",))
    classes = opts["classes"] or data.num_classes
    model = GCN(data.num_features, opts["hidden"], classes, feature_format("gcn", opts["features"]))
    gen = seeded(opts["seed"])
    init_linear(model.l1.lin, gen)
    init_linear(model.l2.lin, gen)
    return model, (csr_tensor(data.adjacency), torch.from_numpy(data.features))


SPEC = ModelSpec(
    name="gcn",
    description="2-layer GCN: relu(lin1(A X)), softmax(lin2(A H)); A = CSR adjacency",
    options=(Option("hidden", int, 16, "hidden features"),
             Option("classes", int, 0, "output classes (0 = the data set's)"),
             Option("features", str, "dense", "storage of the node features X: dense or csr"),
             Option("seed", int, 0, "weight seed")),
    factory=build,
    index_names={"a": ("node", "node"), "x": ("node", "feature")},
    default_dataset="karate",
    dataset_kinds=("graph",),
)
