"""Regenerate tests/graphs/*.fftxt from fuseflow.ir.examples: python make_graphs.py"""

from __future__ import annotations

from pathlib import Path

from fuseflow.ir import examples as ex
from fuseflow.ir import io
from fuseflow.ir.program import BinaryOp

GRAPHS = {
    "spmv": lambda: ex.spmv(8, 8),
    "spmm_ikj": lambda: ex.spmm_ikj(8, 8, 8),
    "spmm_ijk": lambda: ex.spmm_ijk(8, 8, 8),
    "sddmm": lambda: ex.sddmm(8, 8, 4),
    "elem_add_dcsr": lambda: ex.elementwise(BinaryOp.ADD, 8, 8, "cc"),
    "elem_mul_csr": lambda: ex.elementwise(BinaryOp.MUL, 8, 8, "dc"),
    "softmax": lambda: ex.softmax(8, 8),
    "blocked_spmm_b16": lambda: ex.blocked_spmm(32, 32, 32, 16),
}

if __name__ == "__main__":
    out = Path(__file__).parent / "graphs"
    out.mkdir(exist_ok=True)
    for name, make in GRAPHS.items():
        io.save(make(), out / f"{name}.fftxt")
