from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from fuseflow.dse.costmodel import data_density, estimate, footprint, relative_error
from fuseflow.ir.data import TensorData
from fuseflow.ir.formats import named_format
from fuseflow.ir.program import TensorDecl

UNFUSED = [("k1", ("xw",)), ("k2", ("ax",)), ("k3", ("relu",))]


def test_unfused_flops_are_exact_for_spmm_chains(gcn_layer) -> None:
    N, H = gcn_layer.N, gcn_layer.H
    A, X = gcn_layer.dense["A"], gcn_layer.dense["X"]
    est = estimate(gcn_layer, UNFUSED)
    exact = 2 * np.count_nonzero(X) * H + 2 * np.count_nonzero(A) * H + N * H
    assert est.flops == pytest.approx(exact)
    assert [k for k, _, _ in est.kernels] == ["k1", "k2", "k3"]
    assert all(b > 0 for _, _, b in est.kernels)


def test_fusing_a_producer_under_a_foreign_loop_recomputes_it(gcn_layer) -> None:
    N = gcn_layer.N
    A = gcn_layer.dense["A"]
    unfused = estimate(gcn_layer, UNFUSED)
    fused = estimate(gcn_layer, [("k", ("xw", "ax", "relu"))])
    xw = unfused.kernels[0][1]
    visits = np.count_nonzero(A) / N  # XW rows recomputed once per nonzero of A, per row of A
    assert fused.flops == pytest.approx(unfused.flops - xw + visits * xw, rel=0.05)
    assert fused.flops > 2 * unfused.flops


def test_fusing_an_elementwise_consumer_drops_intermediate_traffic(gcn_layer) -> None:
    unfused = estimate(gcn_layer, UNFUSED)
    partial = estimate(gcn_layer, [("k1", ("xw",)), ("k2", ("ax", "relu"))])
    assert partial.flops == pytest.approx(unfused.flops)  # same loop nest: no recomputation
    axw = gcn_layer.program.tensors["AXW"]
    saved = unfused.bytes - partial.bytes
    assert saved == pytest.approx(2 * footprint(axw, 1.0), rel=0.01)  # one write + one read


def test_estimate_reads_kernels_of_a_dataflow_program(gcn_layer) -> None:
    prog = SimpleNamespace(program=gcn_layer.program, data=gcn_layer.data,
                           kernels=[SimpleNamespace(name=n, assignments=a) for n, a in UNFUSED])
    assert estimate(prog) == estimate(gcn_layer, UNFUSED)
    assert (estimate(gcn_layer).flops, estimate(gcn_layer).bytes) == (estimate(prog).flops, estimate(prog).bytes)


def test_densities_from_data() -> None:
    a = np.zeros((32, 32), dtype=np.float32)
    a[0, 0] = a[20, 5] = 1
    csr = TensorDecl("A", (32, 32), named_format("CSR"))
    bsr = TensorDecl("A", (32, 32), named_format("BSR16"))
    dense = TensorDecl("A", (32, 32), named_format("DENSE"))
    data = TensorData.from_dense(a)
    assert data_density(csr, data) == pytest.approx(2 / 1024)
    assert data_density(bsr, data) == pytest.approx(2 * 256 / 1024)  # two 16x16 blocks
    assert data_density(dense, data) == 1.0
    assert footprint(dense, 1.0) == 4 * 1024
    assert relative_error(110, 100) == pytest.approx(0.1)
