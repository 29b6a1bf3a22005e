"""Tensor programs the paper's studies use that no model zoo entry gives: shared by the
benchmarks and the tests that pin them."""

from __future__ import annotations

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import CompileError
from fuseflow.ir.formats import NAMED_FORMATS, LevelFormat, TensorFormat, dense
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    FusionGroup,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
)


def nested_matmul(a: np.ndarray, b: np.ndarray, c: np.ndarray, bc_format: TensorFormat | None = None, *,
                  a_format: TensorFormat | None = None, c_format: TensorFormat | None = None) -> Program:
    """Y = (A B) C fused in one group, T = A B an intermediate; A is stored CSR (or ``a_format``),
    B and C ``bc_format`` (dense by default; C ``c_format`` if given); the expected Y from numpy."""
    n, inner, out = a.shape[0], b.shape[1], c.shape[1]
    fmt = dense(2) if bc_format is None else bc_format
    tp = TensorProgram(name="abc")
    tp.tensors["A"] = TensorDecl("A", (n, a.shape[1]), a_format or NAMED_FORMATS["CSR"], TensorRole.INPUT)
    tp.tensors["B"] = TensorDecl("B", (b.shape[0], inner), fmt, TensorRole.INPUT)
    tp.tensors["C"] = TensorDecl("C", (inner, out), c_format or fmt, TensorRole.INPUT)
    tp.tensors["T"] = TensorDecl("T", (n, inner), dense(2), TensorRole.INTERMEDIATE)
    tp.tensors["Y"] = TensorDecl("Y", (n, out), dense(2), TensorRole.OUTPUT)
    mul = BinaryOp.MUL
    tp.assignments += [
        Assignment("T", Access("T", ("i", "j")),
                   Reduce(ReduceOp.SUM, ("k",), Binary(mul, Access("A", ("i", "k")), Access("B", ("k", "j"))))),
        Assignment("Y", Access("Y", ("i", "l")),
                   Reduce(ReduceOp.SUM, ("j",), Binary(mul, Access("T", ("i", "j")), Access("C", ("j", "l"))))),
    ]
    tp.outputs = ("Y",)
    tp.groups = [FusionGroup("all", ("T", "Y"))]
    data = {k: TensorData.from_dense(v) for k, v in (("A", a), ("B", b), ("C", c))}
    return Program(tp, data=data, expected={"Y": TensorData.from_dense(a @ b @ c)})


# -- the paper's dataflow-order study (Figure 17 of the artifact) -------------------------------

#: Index names of (A B) C in the artifact's labels -> our fused index variables (the reductions
#: are renamed: k of A B is ``k1``, j of T C is ``j0``).
ABC_VARS = {"i": "i", "k": "k1", "j": "j0", "l": "l"}

#: The 15 orders the artifact's Figure 17 sweeps (``scripts/run_figure17_sweep.py``: topological
#: sorts 0-5, 12-14, 16-19, 22, 23 over A(i,k) B(k,j) C(j,l)); the other 9 start with k or are
#: jkli, lkij, lkji.
ARTIFACT_ORDERS = ("ikjl", "iklj", "ijkl", "ijlk", "ilkj", "iljk", "jikl", "jilk", "jkil", "jlik", "jlki",
                   "likj", "lijk", "ljik", "ljki")


def abc_order(label: str) -> str:
    """An artifact order label (``"ikjl"``) as our ``--order`` text (``"i,k1,j0,l"``)."""
    if sorted(label) != sorted(ABC_VARS):
        raise CompileError(f"order {label!r} must name each of i, k, j, l once")
    return ",".join(ABC_VARS[v] for v in label)


def _dcs(label: str, outer: str, inner: str) -> TensorFormat:
    """Both levels compressed, stored in the mode order ``label`` visits ``outer``/``inner`` in."""
    c = LevelFormat.COMPRESSED
    return TensorFormat((c, c), (0, 1) if label.index(outer) < label.index(inner) else (1, 0))


def _sparse_random(rng: np.random.Generator, shape: tuple[int, int], density: float) -> np.ndarray:
    vals = rng.integers(1, 255, size=shape).astype(np.float32)  # the artifact's values: integers < 255
    return np.where(rng.random(shape) < density, vals, 0).astype(np.float32)


def karate_abc(label: str, b_sparse: bool = False, seed: int = 4, density: float = 0.1, hidden: int = 16,
               adjacency: np.ndarray | None = None, artifact_c: bool = False) -> Program:
    """(A B) C as the artifact's Figure 17 builds it (``data_generator.nested_matmuls``, ``-sp 0.9``):
    A the KarateClub adjacency (34 x 34, 1.0 per edge, compressed-compressed), B 34 x 34 with
    ``density`` nonzeros stored dense (UNC), C 34 x ``hidden`` with ``density`` nonzeros stored
    compressed-compressed, Y dense. Every sparse operand is stored in the mode order the order
    ``label`` visits its indices in, as the artifact's generator writes each tensor transposed
    when the compiled program asks for it (a free, offline copy). ``b_sparse`` stores B
    compressed-compressed too (a variant, not the artifact's); ``adjacency`` replaces
    KarateClub's.

    ``artifact_c`` reproduces what the artifact's generator actually writes for C when ``label``
    visits l before j (C stored column-major): it swaps C's shape to (16, 34) and MatrixGenerator
    swaps it back, so the stored level "l" holds the 34 rows of a 34 x 16 random matrix and level "j"
    its 16 columns. As a logical C(j, l) that is a 34 x 34 matrix whose first 16 rows are the
    transpose of the drawn one (the rest empty); Y is then 34 x 34. The artifact checks no result
    in this study, so the swap changes only the work: the orders that recompute A B per column l
    see up to 34 columns instead of 16."""
    abc_order(label)
    if adjacency is None:
        from fuseflow.frontend.datasets.graphs import karate

        adjacency = karate().adjacency.toarray()  # 34 x 34
    n = adjacency.shape[0]
    rng = np.random.default_rng(seed)
    b = _sparse_random(rng, (n, n), density)
    c = _sparse_random(rng, (n, hidden), density)
    if artifact_c and label.index("l") < label.index("j"):
        swapped = np.zeros((max(n, hidden), n), dtype=np.float32)
        swapped[:hidden, :] = c.T
        c = swapped
    b_fmt = _dcs(label, "k", "j") if b_sparse else dense(2)
    return nested_matmul(adjacency.astype(np.float32), b, c, b_fmt, a_format=_dcs(label, "i", "k"),
                         c_format=_dcs(label, "j", "l"))
