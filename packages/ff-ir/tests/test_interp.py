"""The reference interpreter's stored-value semantics."""

from __future__ import annotations

import numpy as np
import pytest

from fuseflow.ir.errors import DataError
from fuseflow.ir.formats import NAMED_FORMATS, dense
from fuseflow.ir.interp import evaluate
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
)

CSR = NAMED_FORMATS["CSR"]
A = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, -3.0, 0.0]], dtype=np.float32)
B = np.array([[0.0, 5.0, 1.0], [4.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32)


def prog(value, out_shape=(3, 3), out_fmt=None, a_fmt=CSR, b_fmt=CSR, out_idx=("i", "j")):
    t = {
        "A": TensorDecl("A", (3, 3), a_fmt, TensorRole.INPUT),
        "B": TensorDecl("B", (3, 3), b_fmt, TensorRole.INPUT),
        "Y": TensorDecl("Y", out_shape, out_fmt or dense(len(out_shape)), TensorRole.OUTPUT),
    }
    return TensorProgram(t, [Assignment("y", Access("Y", out_idx), value)], outputs=("Y",))


def a(name="A", idx=("i", "j")):
    return Access(name, idx)


def run(p):
    return evaluate(p, {"A": A, "B": B})


def test_mul_intersects_and_add_unions() -> None:
    mul = run(prog(Binary(BinaryOp.MUL, a(), a("B"))))["Y"]
    np.testing.assert_allclose(mul, A * B)
    add = run(prog(Binary(BinaryOp.ADD, a(), a("B"))))["Y"]
    np.testing.assert_allclose(add, A + B)


def test_unary_maps_only_stored_values() -> None:
    # exp of a CSR input: absent entries stay absent (0), not exp(0) = 1
    y = run(prog(Unary(UnaryOp.EXP, a()), out_fmt=CSR))["Y"]
    np.testing.assert_allclose(y, np.where(A != 0, np.exp(A), 0), rtol=1e-6)
    # with a dense-format input every entry is stored
    y = run(prog(Unary(UnaryOp.EXP, a()), a_fmt=dense(2)))["Y"]
    np.testing.assert_allclose(y, np.exp(A), rtol=1e-6)


def test_mask_keeps_rhs_values_where_both_present() -> None:
    y = run(prog(Binary(BinaryOp.MASK, a(), a("B", ("i", "j"))), b_fmt=dense(2), out_fmt=CSR))["Y"]
    np.testing.assert_allclose(y, np.where(A != 0, B, 0))


def test_max_reduction_over_stored_entries_absent_if_none() -> None:
    # row 1 of A stores nothing -> absent (0); row 2 max of {-3} = -3, not 0
    p = prog(Reduce(ReduceOp.MAX, ("j",), a()), out_shape=(3,), out_idx=("i",))
    np.testing.assert_allclose(run(p)["Y"], [2.0, 0.0, -3.0])


def test_sum_and_matmul() -> None:
    p = prog(Reduce(ReduceOp.SUM, ("k",), Binary(BinaryOp.MUL, a("A", ("i", "k")), a("B", ("k", "j")))))
    np.testing.assert_allclose(run(p)["Y"], A @ B)


def test_masked_softmax_over_stored_entries() -> None:
    t = {
        "S": TensorDecl("S", (3, 3), CSR, TensorRole.INPUT),
        "M": TensorDecl("M", (3,), dense(1)),
        "E": TensorDecl("E", (3, 3), CSR),
        "Z": TensorDecl("Z", (3,), dense(1)),
        "Y": TensorDecl("Y", (3, 3), CSR, TensorRole.OUTPUT),
    }
    s = Access("S", ("i", "j"))
    asg = [
        Assignment("m", Access("M", ("i",)), Reduce(ReduceOp.MAX, ("j",), s)),
        Assignment("e", Access("E", ("i", "j")),
                   Binary(BinaryOp.MASK, s, Unary(UnaryOp.EXP, Binary(BinaryOp.SUB, s, Access("M", ("i",)))))),
        Assignment("z", Access("Z", ("i",)), Reduce(ReduceOp.SUM, ("j",), Access("E", ("i", "j")))),
        Assignment("y", Access("Y", ("i", "j")), Binary(BinaryOp.DIV, Access("E", ("i", "j")), Access("Z", ("i",)))),
    ]
    y = evaluate(TensorProgram(t, asg, outputs=("Y",)), {"S": B})["Y"]
    ref = np.zeros_like(B)
    for r in range(3):
        nz = B[r] != 0
        e = np.exp(B[r, nz] - B[r, nz].max())
        ref[r, nz] = e / e.sum()
    np.testing.assert_allclose(y, ref, rtol=1e-6)


def test_view_of_reshapes_row_major() -> None:
    t = {
        "A": TensorDecl("A", (2, 6), dense(2), TensorRole.INPUT),
        "V": TensorDecl("V", (3, 4), dense(2), TensorRole.INTERMEDIATE, view_of="A"),
        "Y": TensorDecl("Y", (4, 3), dense(2), TensorRole.OUTPUT),
    }
    p = TensorProgram(t, [Assignment("y", Access("Y", ("j", "i")), Access("V", ("i", "j")))], outputs=("Y",))
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    out = evaluate(p, {"A": x})
    np.testing.assert_array_equal(out["V"], x.reshape(3, 4))
    np.testing.assert_array_equal(out["Y"], x.reshape(3, 4).T)


def test_scalar_ops_and_gelu() -> None:
    y = run(prog(Unary(UnaryOp.SCALAR_ADD, Unary(UnaryOp.SCALAR_MUL, a(), 2.0), 1.0), a_fmt=dense(2)))["Y"]
    np.testing.assert_allclose(y, 2 * A + 1)
    g = run(prog(Unary(UnaryOp.GELU, a()), a_fmt=dense(2)))["Y"]
    import math

    ref = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(A)
    np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-7)


def test_missing_input_is_a_data_error() -> None:
    with pytest.raises(DataError, match="B"):
        evaluate(prog(Binary(BinaryOp.ADD, a(), a("B"))), {"A": A})
