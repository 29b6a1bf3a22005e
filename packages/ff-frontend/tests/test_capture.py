"""Capture of user models: ops, formats, annotations, data, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fuseflow.frontend import annotate
from fuseflow.frontend.api import load_program
from fuseflow.frontend.capture import capture
from fuseflow.ir.errors import FrontendError, UsageError
from fuseflow.ir.interp import evaluate
from fuseflow.ir.program import format_expr

USER_MODEL = '''
import torch

class Pruned(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        w = torch.randn(12, 10, generator=g) * (torch.rand(12, 10, generator=g) < 0.3)
        self.register_buffer("w", w.to_sparse_csr())
        self.b = torch.nn.Parameter(torch.randn(12, generator=g))

    def forward(self, x):
        return torch.relu(self.w @ x + self.b[:, None])

def factory():
    return Pruned(), (torch.randn(10, 6, generator=torch.Generator().manual_seed(4)),)

class Odd(torch.nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values

def odd():
    return Odd(), (torch.randn(8, 8),)
'''


def exprs(prog) -> list[str]:
    return [f"{a.name}: {format_expr(a.output)} = {format_expr(a.value)}" for a in prog.program.assignments]


def check_eager(prog) -> None:
    got = evaluate(prog.program, {n: d.to_dense() for n, d in prog.data.items()})
    for name, ref in prog.expected.items():
        np.testing.assert_allclose(got[name], ref.to_dense(), rtol=1e-5, atol=1e-5)


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    p = tmp_path / "mine.py"
    p.write_text(USER_MODEL)
    return p


def test_user_model_file(user_file: Path) -> None:
    prog = load_program(f"{user_file}:factory", fusion="unfused")
    assert exprs(prog) == [
        "mine.mm: mm[i,j] = sum[k](mul(w[i,k], x[k,j]))",
        "mine.bias: bias[i,j] = add(mm[i,j], b[i])",
        "mine.relu: relu[i,j] = relu(bias[i,j])",
    ]
    t = prog.program.tensors
    assert (t["w"].format.spec(), t["x"].format.spec(), t["relu"].role.value) == ("dc", "dd", "output")
    # the pruned weight keeps its real indices and values
    w = prog.data["w"]
    assert w.coords is not None and w.nnz() == int(np.count_nonzero(w.to_dense()))
    assert all(a.source == "mine.py:13" for a in prog.program.assignments)
    assert [g.name for g in prog.program.groups] == ["mm", "bias", "relu"]
    check_eager(prog)


def test_unsupported_op_names_op_line_and_supported_list(user_file: Path) -> None:
    with pytest.raises(FrontendError) as e:
        load_program(f"{user_file}:odd")
    msg = str(e.value)
    assert "aten.sort" in msg and "mine.py:20" in msg and "aten.matmul" in msg


class Annotated(torch.nn.Module):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt
        self.w = torch.nn.Parameter(torch.randn(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = annotate(torch.relu(x @ self.w), self.fmt)
        return h.sum(dim=1)


def test_annotation_on_an_intermediate() -> None:
    prog = capture(Annotated("DCSR"), (torch.randn(4, 4),), "ann")
    assert prog.program.tensors["relu"].format.spec() == "cc"
    prog = capture(Annotated("CSC"), (torch.randn(4, 4),), "ann")
    assert prog.program.tensors["relu"].format.spec() == "dc@1,0"
    check_eager(prog)


@pytest.mark.parametrize("fmt, words", [("NOPE", ["NOPE", "relu"]), ("COO3", ["COO3"]), ("dcc", ["dcc", "levels"])])
def test_malformed_annotation(fmt: str, words: list[str]) -> None:
    with pytest.raises(FrontendError) as e:
        capture(Annotated(fmt), (torch.randn(4, 4),), "ann")
    for w in words:
        assert w in str(e.value)


def test_annotation_of_a_transposed_view_maps_mode_order() -> None:
    class M(torch.nn.Module):
        def forward(self, a, x):
            return annotate(a.t(), "CSR") @ x

    prog = capture(M(), (torch.randn(4, 3), torch.randn(4, 2)), "m")
    assert prog.program.tensors["a"].format.spec() == "dc@1,0"  # CSR of a^T = CSC of a
    check_eager(prog)


def test_input_layouts_give_formats() -> None:
    class M(torch.nn.Module):
        def forward(self, a, b, c, d, x):
            return a @ x + b @ x + c @ x + d @ x

    dense = (torch.rand(4, 4) > 0.5).float() * torch.randn(4, 4)
    ins = (dense.to_sparse_coo(), dense.to_sparse_csr(), dense.to_sparse_csc(), dense.to_sparse_bsr((2, 2)),
           torch.randn(4, 3))
    prog = capture(M(), ins, "m")
    specs = [prog.program.tensors[n].format.spec() for n in ("a", "b", "c", "d")]
    assert specs == ["cs", "dc", "dc@1,0", "dc#2x2"]
    check_eager(prog)


def test_sddmm_einsum_and_sparse_softmax_semantics() -> None:
    class M(torch.nn.Module):
        def forward(self, m, q, k):
            s = torch.sparse.sampled_addmm(m, q, k.t(), beta=0.0, alpha=0.5)
            return torch.einsum("ij,jk->ik", q, k.t()), s.to_dense()

    mask = (torch.rand(5, 5) > 0.6).float()
    mask.fill_diagonal_(1.0)
    prog = capture(M(), (mask.to_sparse_csr(), torch.randn(5, 3), torch.randn(5, 3)), "m")
    sd = [a for a in prog.program.assignments if a.name.endswith("sddmm")][0]
    assert format_expr(sd.value) == "mask(m[i,j], scalar_mul(sum[k](mul(q[i,k], k[j,k])), 0.5))"
    assert prog.program.tensors[sd.output.tensor].format.spec() == "dc"
    check_eager(prog)


def test_masked_softmax_and_reshape_barrier() -> None:
    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            keep = (torch.rand(6, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
            keep.fill_diagonal_(1.0)
            self.register_buffer("keep", keep)

        def forward(self, x):
            s = (x @ x.t()).masked_fill(self.keep == 0, float("-inf"))
            p = torch.softmax(s, dim=-1)
            y = (p @ x).t().reshape(3, 8)  # transpose + reshape -> copy + view
            return torch.nn.functional.gelu(y * 2.0 - 1.0).mean(dim=0, keepdim=True)

    prog = capture(M(), (torch.randn(6, 4),), "m", fusion="full")
    t = prog.program.tensors
    assert t["keep"].format.spec() == "dc" and t["sddmm"].format.spec() == "dc"
    assert [d.view_of for d in t.values() if d.view_of] == ["copy"]
    assert len(prog.program.groups) == 2  # split at the view
    check_eager(prog)


def test_layer_norm_sigmoid_tanh_exp_rsqrt_amax() -> None:
    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln = torch.nn.LayerNorm(5)

        def forward(self, x):
            h = self.ln(x)
            z = torch.sigmoid(h) + torch.tanh(h) / 2 - torch.exp(-h) * 0.1
            return z.amax(dim=1) + torch.rsqrt(h * h + 1.0).sum(dim=1), 1 - z

    prog = capture(M(), (torch.randn(3, 5),), "m", fusion="unfused")
    check_eager(prog)
    ln_groups = [g for g in prog.program.groups if g.name == "ln_layernorm"]
    assert len(ln_groups) == 1 and len(ln_groups[0].assignments) == 5


def test_fusion_spec() -> None:
    from fuseflow.frontend.fusion import from_spec

    prog = load_program("gcn", fusion="g1=l1;g2=l2.mm,l2.lin").program
    assert [g.name for g in prog.groups] == ["g1", "g2", "l2_softmax"]
    with pytest.raises(FrontendError, match="names no op"):
        from_spec(prog, "g=nothing")
    with pytest.raises(FrontendError, match="contiguous"):
        from_spec(prog, "a=l1.mm,l2.mm")


def test_options_are_typed_and_checked() -> None:
    prog = load_program("gcn", {"hidden": "4"})
    assert prog.program.tensors["l1_lin_weight"].shape == (4, 34)
    with pytest.raises(FrontendError, match="hidden"):
        load_program("gcn", {"hiden": "4"})
    with pytest.raises(UsageError, match="-m hidden=four.*not a int") as e:
        load_program("gcn", {"hidden": "four"})
    assert e.value.exit_code == 2  # a bad option value is a usage error
    with pytest.raises(UsageError, match="-m hidden=0.*must be >= 1"):
        load_program("gcn", {"hidden": "0"})


def test_sparse_softmax_over_stored_entries() -> None:
    class M(torch.nn.Module):
        def forward(self, s, v):
            return torch.sparse.mm(torch.sparse.softmax(s, 1), v)

    d = (torch.rand(5, 5, generator=torch.Generator().manual_seed(2)) > 0.5).float() * torch.randn(5, 5)
    d.fill_diagonal_(1.0)
    prog = capture(M(), (d.to_sparse_coo(), torch.randn(5, 3)), "m")
    t = prog.program.tensors
    assert t["s"].format.spec() == "cs" and t["softmax"].format.spec() == "cs"
    check_eager(prog)


def test_export_errors_name_the_model_source_line(tmp_path) -> None:  # noqa: ANN001
    import importlib.util

    import pytest
    import torch
    from fuseflow.frontend.capture import capture
    from fuseflow.ir.errors import FrontendError

    src = tmp_path / "badmodel.py"
    src.write_text("import torch\n\n\nclass M(torch.nn.Module):\n    def forward(self, a, b):\n"
                   "        return a @ b + torch.ones(7, 3)\n")
    spec = importlib.util.spec_from_file_location("badmodel", src)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(FrontendError, match=r"at badmodel\.py:6: RuntimeError"):
        capture(mod.M(), (torch.rand(5, 5), torch.rand(5, 3)), name="bad")


class _Logits(torch.nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x @ w, dim=1)


def test_float32_error_of_the_expected_outputs_is_recorded() -> None:
    # logits in the thousands: float32 PyTorch is measurably off float64, which the check allows for
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 256, generator=g) * 40
    w = torch.rand(256, 8, generator=g)
    prog = capture(_Logits(), (x, w), name="logits", fusion="unfused")
    out = prog.program.outputs[0]
    err = float(prog.meta[f"float32_error.{out}"])
    y64 = torch.softmax(x.double() @ w.double(), dim=1)
    assert err == pytest.approx(float((torch.softmax(x @ w, dim=1).double() - y64).abs().max()), rel=1e-2)
    assert 0 < err < 1e-2


def test_no_float32_error_for_a_sparse_output() -> None:
    from fuseflow.frontend.precision import float32_errors

    a = torch.eye(3).to_sparse_csr()
    assert float32_errors(torch.nn.Identity(), (a,), [a]) == [None]


def test_no_float32_error_when_the_float64_run_would_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuseflow.frontend import precision

    x = torch.rand(4, 4)
    assert precision.float64_bytes((x,), [x]) == 16 * 16 + 8 * 16
    assert precision.float64_bytes((x,), [x], torch.nn.Linear(4, 3)) == 16 * 16 + 8 * 16 + 12 * (12 + 3)
    assert precision.float32_errors(torch.nn.Identity(), (x,), [x]) == [0.0]
    monkeypatch.setattr(precision, "available_bytes", lambda: precision.RESERVE + 16 * 16 + 8 * 16 - 1)
    assert precision.float32_errors(torch.nn.Identity(), (x,), [x]) == [None]
    assert "needs 0.0 GiB + 2 GiB spare" in precision.float64_skip((x,), [x])
    prog = capture(_Logits(), (x, x), name="logits", fusion="unfused")
    assert prog.meta["float32_error"].startswith("not measured")
    assert not any(k.startswith("float32_error.") for k in prog.meta)
