"""Helpers shared by the zoo models."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from fuseflow.ir.errors import DataError, FrontendError


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def init_linear(lin: torch.nn.Linear, gen: torch.Generator) -> torch.nn.Linear:
    """Deterministic uniform init (same bounds as PyTorch's default)."""
    bound = 1.0 / max(lin.in_features, 1) ** 0.5
    with torch.no_grad():
        lin.weight.uniform_(-bound, bound, generator=gen)
        if lin.bias is not None:
            lin.bias.uniform_(-bound, bound, generator=gen)
    return lin


def csr_tensor(m: sp.spmatrix) -> torch.Tensor:
    """A scipy sparse matrix as a torch sparse CSR float32 tensor (no densifying)."""
    c = sp.csr_matrix(m, dtype=np.float32)
    c.sort_indices()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(torch.from_numpy(c.indptr.astype(np.int64)),
                                       torch.from_numpy(c.indices.astype(np.int64)),
                                       torch.from_numpy(c.data.astype(np.float32)), size=c.shape,
                                       check_invariants=False)


def feature_format(model: str, storage: str) -> str | None:
    """The format annotation for node features X: None keeps them dense (the paper's
    default); ``csr`` streams only their nonzeros (bag-of-words features are ~99% zero)."""
    formats = {"dense": None, "csr": "CSR"}
    if storage not in formats:
        raise FrontendError(f"{model}: features must be one of {', '.join(formats)}, got {storage!r}")
    return formats[storage]


def need_kind(model: str, dataset: object, kinds: tuple[str, ...]) -> None:
    from fuseflow.frontend.datasets import Graph, Images, Matrix

    kind = {Graph: "graph", Images: "images", Matrix: "matrix"}.get(type(dataset), "?")
    if kind not in kinds:
        raise DataError(f"model {model} needs a {' or '.join(kinds)} data set, got a {kind}"
                        f" ({getattr(dataset, 'name', dataset)})")
