"""Differential tests: hand-built tensor programs compiled unfused / partial / full,
simulated with the output check against numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_testlib import (
    A,
    ProgramBuilder,
    TensorRole,
    UnaryOp,
    add,
    div,
    mask,
    mul,
    run,
    smax,
    ssum,
    sub,
    un,
)

FUSIONS = ["unfused", "partial", "full"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sparse(rng, shape, density):  # noqa: ANN001
    return ((rng.random(shape) < density) * rng.standard_normal(shape)).astype(np.float32)


def spmv(fusion):
    rng = _rng(1)
    a, x = _sparse(rng, (7, 6), 0.3), rng.standard_normal(6).astype(np.float32)
    p = ProgramBuilder("spmv")
    p.inp("A", a, "CSR")
    p.inp("x", x)
    p.let("y", "i", (7,), ssum("j", mul(A("A", "ij"), A("x", "j"))))
    p.let("z", "i", (7,), un(UnaryOp.SCALAR_MUL, A("y", "i"), 2.0))
    return p.build(["z"], fusion, {"z": 2 * (a @ x)})


def spmm(fusion):
    rng = _rng(2)
    a, b = _sparse(rng, (6, 8), 0.25), _sparse(rng, (8, 5), 0.5)
    p = ProgramBuilder("spmm")
    p.inp("A", a, "CSR")
    p.inp("B", b, "CSR")
    p.let("C", "ij", (6, 5), ssum("k", mul(A("A", "ik"), A("B", "kj"))))
    p.let("D", "ij", (6, 5), un(UnaryOp.RELU, A("C", "ij")))
    return p.build(["D"], fusion, {"D": np.maximum(a @ b, 0)})


def attention(fusion):
    """SDDMM (mask * Q K^T) + masked row softmax + SpMM with V."""
    rng = _rng(3)
    n, d = 10, 4
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    m = (rng.random((n, n)) < 0.3).astype(np.float32)
    np.fill_diagonal(m, 1)
    s = (q @ k.T) * 0.5
    sm = np.where(m > 0, s, -np.inf)
    pm = np.exp(sm - sm.max(1, keepdims=True))
    pm /= pm.sum(1, keepdims=True)
    p = ProgramBuilder("attention")
    p.inp("Q", q)
    p.inp("K", k)
    p.inp("V", v)
    p.inp("M", m, "CSR")
    p.let("S", "ij", (n, n), un(UnaryOp.SCALAR_MUL, mask(A("M", "ij"), ssum("d", mul(A("Q", "id"), A("K", "jd")))),
                                0.5), fmt="CSR", group="sddmm")
    p.let("Mx", "i", (n,), smax("j", A("S", "ij")), group="softmax")
    p.let("E", "ij", (n, n), un(UnaryOp.EXP, mask(A("S", "ij"), sub(A("S", "ij"), A("Mx", "i")))), fmt="CSR",
          group="softmax")
    p.let("Z", "i", (n,), ssum("j", A("E", "ij")), group="softmax")
    p.let("P", "ij", (n, n), div(A("E", "ij"), A("Z", "i")), fmt="CSR", group="softmax")
    p.let("O", "id", (n, d), ssum("j", mul(A("P", "ij"), A("V", "jd"))), group="spmm")
    return p.build(["O"], fusion, {"O": pm @ v})


def softmax_rows(fusion):
    rng = _rng(4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    e = np.exp(x - x.max(1, keepdims=True))
    p = ProgramBuilder("softmax")
    p.inp("X", x)
    p.let("M", "i", (5,), smax("j", A("X", "ij")), group="a")
    p.let("E", "ij", (5, 6), un(UnaryOp.EXP, sub(A("X", "ij"), A("M", "i"))), group="a")
    p.let("S", "i", (5,), ssum("j", A("E", "ij")), group="b")
    p.let("Y", "ij", (5, 6), div(A("E", "ij"), A("S", "i")), group="b")
    return p.build(["Y"], fusion, {"Y": e / e.sum(1, keepdims=True)})


def layernorm(fusion):
    rng = _rng(5)
    n, d = 4, 8
    x = rng.standard_normal((n, d)).astype(np.float32)
    g, bta = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
    mu = x.mean(1, keepdims=True)
    var = ((x - mu) ** 2).mean(1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * g + bta
    p = ProgramBuilder("layernorm")
    p.inp("X", x)
    p.inp("g", g, role=TensorRole.PARAM)
    p.inp("b", bta, role=TensorRole.PARAM)
    p.let("Mu", "i", (n,), un(UnaryOp.SCALAR_MUL, ssum("j", A("X", "ij")), 1.0 / d), group="stats")
    p.let("C", "ij", (n, d), sub(A("X", "ij"), A("Mu", "i")), group="stats")
    p.let("V", "i", (n,), un(UnaryOp.SCALAR_MUL, ssum("j", mul(A("C", "ij"), A("C", "ij"))), 1.0 / d),
          group="stats")
    p.let("R", "i", (n,), un(UnaryOp.RSQRT, un(UnaryOp.SCALAR_ADD, A("V", "i"), 1e-5)), group="norm")
    p.let("Y", "ij", (n, d), add(mul(mul(A("C", "ij"), A("R", "i")), A("g", "j")), A("b", "j")), group="norm")
    return p.build(["Y"], fusion, {"Y": y})


def union_intersect(fusion):
    """(A + B) * C with A, B, C sparse: a union under an intersection, then a dense add."""
    rng = _rng(6)
    a, b, c = _sparse(rng, (5, 6), 0.4), _sparse(rng, (5, 6), 0.4), _sparse(rng, (5, 6), 0.6)
    d = rng.standard_normal((5, 6)).astype(np.float32)
    p = ProgramBuilder("union_intersect")
    for name, arr in (("A", a), ("B", b), ("C", c)):
        p.inp(name, arr, "CSR")
    p.inp("D", d)
    p.let("U", "ij", (5, 6), add(A("A", "ij"), A("B", "ij")), fmt="CSR", group="u")
    p.let("I", "ij", (5, 6), mul(A("U", "ij"), A("C", "ij")), fmt="CSR", group="u")
    p.let("Y", "ij", (5, 6), add(A("I", "ij"), A("D", "ij")), group="y")
    return p.build(["Y"], fusion, {"Y": (a + b) * c + d})


def gcn(fusion):
    rng = _rng(7)
    n, f, h, c = 12, 6, 5, 4
    adj = (rng.random((n, n)) < 0.25).astype(np.float32)
    x = rng.standard_normal((n, f)).astype(np.float32)
    w1, b1 = rng.standard_normal((f, h)).astype(np.float32), rng.standard_normal(h).astype(np.float32)
    w2, b2 = rng.standard_normal((h, c)).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    h1 = np.maximum(adj @ x @ w1 + b1, 0)
    z = adj @ h1 @ w2 + b2
    e = np.exp(z - z.max(1, keepdims=True))
    y = e / e.sum(1, keepdims=True)
    p = ProgramBuilder("gcn")
    p.inp("A", adj, "CSR")
    p.inp("X", x)
    for name, arr in (("W1", w1), ("b1", b1), ("W2", w2), ("b2", b2)):
        p.inp(name, arr, role=TensorRole.PARAM)
    p.let("AX", "if", (n, f), ssum("k", mul(A("A", "ik"), A("X", "kf"))), group="l1")
    p.let("L1", "ih", (n, h), ssum("f", mul(A("AX", "if"), A("W1", "fh"))), group="l1")
    p.let("H1", "ih", (n, h), un(UnaryOp.RELU, add(A("L1", "ih"), A("b1", "h"))), group="l1")
    p.let("AH", "ih", (n, h), ssum("k", mul(A("A", "ik"), A("H1", "kh"))), group="l2")
    p.let("L2", "ic", (n, c), ssum("h", mul(A("AH", "ih"), A("W2", "hc"))), group="l2")
    p.let("Z", "ic", (n, c), add(A("L2", "ic"), A("b2", "c")), group="l2")
    p.let("M", "i", (n,), smax("c", A("Z", "ic")), group="sm")
    p.let("E", "ic", (n, c), un(UnaryOp.EXP, sub(A("Z", "ic"), A("M", "i"))), group="sm")
    p.let("S", "i", (n,), ssum("c", A("E", "ic")), group="sm")
    p.let("Y", "ic", (n, c), div(A("E", "ic"), A("S", "i")), group="sm")
    return p.build(["Y"], fusion, {"Y": y})


PROGRAMS = {f.__name__: f for f in (spmv, spmm, attention, softmax_rows, layernorm, union_intersect, gcn)}
SLOW: set[tuple[str, str]] = set()


def _cases():
    for name in PROGRAMS:
        for fusion in FUSIONS:
            marks = [pytest.mark.slow] if (name, fusion) in SLOW else []
            yield pytest.param(name, fusion, id=f"{name}-{fusion}", marks=marks)


@pytest.mark.parametrize(("name", "fusion"), list(_cases()))
def test_matches_numpy(name, fusion):
    prog = PROGRAMS[name](fusion)
    res, r = run(prog)
    assert r.check == "pass", (r.max_rel_error, r.first_mismatch)
    expect_kernels = {"unfused": len(prog.program.assignments), "full": 1}.get(fusion)
    if expect_kernels is not None:
        assert len(res.program.kernels) == expect_kernels
    assert r.cycles > 0


def test_full_fusion_writes_no_intermediates():
    res, _ = run(PROGRAMS["softmax_rows"]("full"))
    (k,) = res.program.kernels
    assert k.outputs == ("Y",)
    # E is read twice (max-subtracted numerator, row sum): inlined and recomputed
    assert "E" in res.reports[0].recomputed


def test_full_fusion_recomputed_spmm_with_empty_row():
    adj = np.array([[0, 1, 0], [0, 0, 0], [1, 0, 0]], np.float32)
    x = np.ones((3, 1), np.float32)
    p = ProgramBuilder("aax")
    p.inp("A", adj, "CSR")
    p.inp("X", x)
    p.let("H", "if", (3, 1), ssum("k", mul(A("A", "ik"), A("X", "kf"))))
    p.let("Y", "if", (3, 1), ssum("k", mul(A("A", "ik"), A("H", "kf"))))
    _, r = run(p.build(["Y"], "full", {"Y": adj @ adj @ x}))
    assert r.check == "pass"
