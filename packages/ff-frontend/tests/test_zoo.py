"""Zoo models: golden tensor programs (expressions, formats, groups) and eager agreement."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fuseflow.frontend.api import load_program
from fuseflow.frontend.printer import describe
from fuseflow.ir.interp import evaluate

GOLDEN = Path(__file__).parent / "golden"
SMALL_GPT = {"seq": "32", "d_model": "16", "heads": "2", "decoders": "2", "block": "8"}
SMALL = {
    "gcn": ({}, None),
    "graphsage": ({}, "florentine"),
    "sae": ({"batch": "4", "hidden": "8"}, "images:side=4,count=4,density=0.5"),
    "gpt3-bigbird": (SMALL_GPT, None),
}


@pytest.mark.parametrize("model", list(SMALL))
@pytest.mark.parametrize("fusion", ["unfused", "partial", "full"])
def test_golden(model: str, fusion: str) -> None:
    opts, ds = SMALL[model]
    text = describe(load_program(model, opts, ds, fusion).program, sources=False)
    path = GOLDEN / f"{model}.{fusion}.txt"
    if os.environ.get("FF_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs (FF_UPDATE_GOLDEN=1 rewrites it)"


EAGER_OPTS = {"gpt3-bigbird": {"seq": "64", "d_model": "32", "heads": "2", "decoders": "2", "block": "16"},
              "bigbird-attention": {"seq": "256", "d_head": "16", "block": "32"}}


@pytest.mark.parametrize("model", ["gcn", "graphsage", "sae", "gpt3-bigbird", "bigbird-attention"])
def test_interpreter_reproduces_eager(model: str) -> None:
    opts = EAGER_OPTS.get(model, {})
    prog = load_program(model, opts)
    got = evaluate(prog.program, {n: d.to_dense() for n, d in prog.data.items()})
    assert prog.expected
    for name, ref in prog.expected.items():
        np.testing.assert_allclose(got[name], ref.to_dense(), rtol=1e-5, atol=1e-5)


def test_gcn_unfused_has_the_papers_eight_kernels() -> None:
    prog = load_program("gcn", fusion="unfused").program
    assert [g.name for g in prog.groups] == ["l1_mm", "l1_lin_mm", "l1_lin_bias", "l1_relu",
                                             "l2_mm", "l2_lin_mm", "l2_lin_bias", "l2_softmax"]
    assert [g.name for g in load_program("gcn", fusion="partial").program.groups] == ["l1", "l2"]
    assert len(load_program("gcn", fusion="full").program.groups) == 1


def test_gpt_full_fusion_splits_at_head_reshapes() -> None:
    prog = load_program("gpt3-bigbird", {**SMALL_GPT, "decoders": "3"}, fusion="full").program
    kinds = []
    for g in prog.groups:
        parts = {a.split(".")[3] for a in g.assignments}  # gpt3_bigbird.dec.N.<layer>...
        decs = sorted({int(a.split(".")[2]) for a in g.assignments})
        kinds.append((tuple(sorted(parts)), tuple(decs)))
    assert kinds == [
        (("pre",), (0,)), (("attn",), (0,)), (("post", "pre"), (0, 1)),
        (("attn",), (1,)), (("post", "pre"), (1, 2)), (("attn",), (2,)), (("post",), (2,)),
    ]
    partial = load_program("gpt3-bigbird", SMALL_GPT, fusion="partial").program
    assert len(partial.groups) == 3 * 2


def test_gpt_mask_is_blocked_and_attention_takes_its_format() -> None:
    prog = load_program("gpt3-bigbird", {**SMALL_GPT, "block": "4"}).program
    assert prog.tensors["mask"].format.spec() == "dc#4x4"
    assert prog.tensors["dec_0_attn_sddmm"].format.spec() == "ddc#1x4x4"
    views = [d for d in prog.tensors.values() if d.view_of]
    assert len(views) == 4 * 2  # q, k, v head splits + the merge, per decoder


def test_sources_point_at_the_model_code() -> None:
    prog = load_program("gcn").program
    assert all(a.source.startswith("gcn.py:") for a in prog.assignments)


def test_bigbird_mask_density_at_gpt3_small() -> None:
    from fuseflow.frontend.zoo.gpt import bigbird_mask

    m = bigbird_mask(1024, 16)
    assert (m == m.T).sum() > 0 and m[:32].all() and m[:, :32].all()
    assert 0.135 <= m.mean() <= 0.461


@pytest.mark.parametrize("model, opts", [("gcn", {}), ("gpt3-bigbird", SMALL_GPT)])
def test_presets_without_capture_info_match(model: str, opts: dict[str, str]) -> None:
    """After a round trip through a file the op table is gone: names still give the groups."""
    from fuseflow.frontend.fusion import make_groups
    from fuseflow.ir.program import TensorProgram

    captured = load_program(model, opts).program
    plain = TensorProgram(captured.tensors, captured.assignments, [], captured.outputs, captured.name)
    for preset in ("unfused", "partial", "full"):
        assert make_groups(plain, preset) == make_groups(captured, preset), preset


def test_unknown_feature_storage_is_named() -> None:
    from fuseflow.ir.errors import FrontendError

    with pytest.raises(FrontendError, match="features must be one of dense, csr, got 'coo'"):
        load_program("gcn", {"features": "coo"}, None, "partial")
