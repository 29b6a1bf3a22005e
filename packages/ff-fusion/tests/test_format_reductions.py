"""Every storage format x every reduction, captured from PyTorch, compiled (three fusions) and
simulated on both engines, against eager PyTorch. COO (a singleton level) once reduced each
entry on its own (softmax gave 1.0 everywhere)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from fuseflow.frontend.annotation import annotate
from fuseflow.frontend.capture import capture
from fuseflow.fusion.api import compile_captured
from fuseflow.ir.errors import FrontendError
from fuseflow.sim import simulate

FORMATS = ["DENSE", "CSR", "CSC", "DCSR", "DCSC", "COO"]

REDUCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sum rows": lambda s: s.sum(dim=1),
    "sum cols": lambda s: s.sum(dim=0),
    "mean rows": lambda s: s.mean(dim=1),
    "sum all": lambda s: s.sum(),
    "scaled sum rows": lambda s: (s * 3.0).sum(dim=1),
}


class Reduce(torch.nn.Module):
    def __init__(self, fmt: str, op: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fmt, self.op = fmt, op

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.op(torch.relu(annotate(s, self.fmt)))


def _input() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randn(9, 7, generator=g) * (torch.rand(9, 7, generator=g) < 0.4)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("op", list(REDUCTIONS))
def test_reduction_over_every_format(fmt: str, op: str) -> None:
    prog = capture(Reduce(fmt, REDUCTIONS[op]), (_input(),), name="r", fusion="partial")
    compiled = compile_captured(prog).program
    for engine in ("reference", "fast"):
        res = simulate(compiled, engine=engine, check=True)
        assert res.check == "pass", (engine, res.first_mismatch)


@pytest.mark.parametrize("op", ["exp", "add", "amax", "softmax"])
def test_ops_that_fill_unstored_zeros_are_refused(op: str) -> None:
    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "exp": torch.exp, "add": lambda s: s + 0.5, "amax": lambda s: s.amax(dim=1),
        "softmax": lambda s: torch.softmax(s, dim=1)}
    with pytest.raises(FrontendError, match="unstored"):
        capture(Reduce("CSR", fns[op]), (_input(),), name="r")


@pytest.mark.parametrize("fusion", ["unfused", "full"])
def test_torch_sparse_softmax_over_coo(fusion: str) -> None:
    class SparseSoftmax(torch.nn.Module):
        def forward(self, s: torch.Tensor) -> torch.Tensor:
            return torch.sparse.softmax(s.to_sparse_coo(), dim=1).to_dense()

    prog = capture(SparseSoftmax(), (_input(),), name="ss", fusion=fusion)
    res = simulate(compile_captured(prog).program, check=True)
    assert res.check == "pass", res.first_mismatch


def test_outer_product_spmm_spacc2_same_figures_on_both_engines() -> None:
    class OuterSpMM(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return annotate(a, "DCSC") @ annotate(b, "DCSR")

    g = torch.Generator().manual_seed(5)
    a = torch.randn(40, 30, generator=g) * (torch.rand(40, 30, generator=g) < 0.1)
    b = torch.randn(30, 50, generator=g) * (torch.rand(30, 50, generator=g) < 0.1)
    prog = compile_captured(capture(OuterSpMM(), (a, b), name="outer"), order="k0,i,j").program
    assert any(n.kind.value == "spacc2" for k in prog.kernels for n in k.graph.nodes.values())
    ref, fast = (simulate(prog, hw="no-hbm", engine=e, check=True) for e in ("reference", "fast"))
    assert ref.check == fast.check == "pass"
    assert (ref.cycles, ref.flops, ref.bytes_moved) == (fast.cycles, fast.flops, fast.bytes_moved)


@pytest.mark.parametrize("fusion", ["unfused", "partial", "full"])
def test_sparse_softmax_over_an_sddmm_result(fusion: str) -> None:
    """Softmax over SDDMM scores kept in the mask's COO format (a singleton level). The scores
    were once stored dense, so the softmax also counted the unstored zeros (PyTorch's CSR has no
    sparse softmax, so COO is the layout to test)."""

    class Attn(torch.nn.Module):
        def forward(self, m: torch.Tensor, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            s = m * (q @ k.t())
            return torch.sparse.softmax(s, dim=1).to_dense()

    g = torch.Generator().manual_seed(5)
    mask = (torch.rand(8, 8, generator=g) < 0.4).float()
    mask.fill_diagonal_(1.0)
    args = (mask.to_sparse_coo(), torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g))
    prog = capture(Attn(), args, name="attn", fusion=fusion)
    scores = next(a.output.tensor for a in prog.program.assignments if a.name.endswith(".mul"))
    assert not prog.program.tensors[scores].format.is_dense  # the scores keep the mask's pattern
    compiled = compile_captured(prog).program
    for engine in ("reference", "fast"):
        res = simulate(compiled, engine=engine, check=True)
        assert res.check == "pass", (engine, res.first_mismatch)
