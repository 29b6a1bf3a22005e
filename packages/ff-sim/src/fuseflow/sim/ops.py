"""Value arithmetic of ALUs and reducers, in float32 (scalars) or on float32 tiles."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from fuseflow.ir.program import BinaryOp, UnaryOp

F32 = np.float32
ZERO = F32(0.0)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: Any) -> Any:
    # exact GELU (erf form), as torch's default; computed in float64, rounded to float32
    xd = np.asarray(x, dtype=np.float64)
    return 0.5 * xd * (1.0 + _erf(xd / math.sqrt(2.0)))


def _sigmoid(x: Any) -> Any:
    xd = np.asarray(x, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-xd))


UNARY: dict[UnaryOp, Callable[[Any, Any], Any]] = {
    UnaryOp.NEG: lambda x, s: -x,
    UnaryOp.EXP: lambda x, s: np.exp(x),
    UnaryOp.RSQRT: lambda x, s: F32(1.0) / np.sqrt(x),
    UnaryOp.SQRT: lambda x, s: np.sqrt(x),
    UnaryOp.RELU: lambda x, s: np.maximum(x, ZERO),
    UnaryOp.SIGMOID: lambda x, s: _sigmoid(x),
    UnaryOp.GELU: lambda x, s: _gelu(x),
    UnaryOp.TANH: lambda x, s: np.tanh(x),
    UnaryOp.SCALAR_ADD: lambda x, s: x + s,
    UnaryOp.SCALAR_MUL: lambda x, s: x * s,
    UnaryOp.SCALAR_DIV: lambda x, s: x / s,
    UnaryOp.SCALAR_MAX: lambda x, s: np.maximum(x, s),
}

BINARY: dict[BinaryOp, Callable[[Any, Any], Any]] = {
    BinaryOp.ADD: lambda a, b: a + b,
    BinaryOp.SUB: lambda a, b: a - b,
    BinaryOp.MUL: lambda a, b: a * b,
    BinaryOp.DIV: lambda a, b: a / b,
    BinaryOp.MAX: lambda a, b: np.maximum(a, b),
    BinaryOp.MASK: lambda a, b: b,
}


def as_value(x: Any) -> Any:
    """float32 scalar or float32 tile."""
    if isinstance(x, np.ndarray) and x.ndim > 0:
        return x.astype(F32, copy=False)
    return F32(x)


def unary(op: UnaryOp, x: Any, scalar: float | None) -> Any:
    s = F32(0.0 if scalar is None else scalar)
    with np.errstate(all="ignore"):
        return as_value(UNARY[op](x, s))


def binary(op: BinaryOp, a: Any, b: Any, matmul: bool = False) -> Any:
    with np.errstate(all="ignore"):
        if matmul:
            return as_value(np.matmul(a, b))
        return as_value(BINARY[op](a, b))


def zero_like(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.ndim > 0:
        return np.zeros_like(v, dtype=F32)
    return ZERO
