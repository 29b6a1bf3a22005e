"""The report's GPT-3 explanation: computed from measured per-kernel cycles, by group."""

from __future__ import annotations

from fuseflow.dse.config import Config
from fuseflow.dse.gpt3_explain import full_breakdown, matmul_share, partial_breakdown
from fuseflow.dse.paper_compare import compare
from fuseflow.dse.report import Row
from fuseflow.dse.result import Result, Status

OPTS = (("decoders", "2"), ("seq", "64"), ("d_model", "32"), ("heads", "2"), ("block", "32"))
#: one decoder's unfused kernels (op -> cycles): matmuls 90 of 100 cycles
UNFUSED_OPS = {"pre": {"ln_layernorm": 2.0, "q_mm": 10.0, "k_mm": 10.0, "v_mm": 10.0},
               "attn": {"sddmm": 8.0, "softmax": 4.0, "mm": 6.0},
               "post": {"out_mm": 10.0, "fc1_mm": 20.0, "fc2_mm": 16.0, "add": 4.0}}


def _result(fusion: str, kernels: list[tuple[str, float]], block: str = "32") -> Result:
    c = Config("gpt3-bigbird", None, (*OPTS[:-1], ("block", block)), fusion=fusion)
    return Result(c, c.key(), Status.OK, cycles=sum(k for _, k in kernels), flops=1.0, bytes_moved=1.0,
                  kernel_cycles=tuple(kernels))


def _unfused(block: str = "32") -> Result:
    ks, i = [], 0
    for d in range(2):
        for g, ops in UNFUSED_OPS.items():
            for op, c in ops.items():
                ks.append((f"k{i}_dec_{d}_{g}_{op}", c))
                i += 1
    return _result("unfused", ks, block)


PARTIAL = [("k0_dec_0_pre", 20.0), ("k1_dec_0_attn", 8.0), ("k2_dec_0_post", 20.0),
           ("k3_dec_1_pre", 20.0), ("k4_dec_1_attn", 8.0), ("k5_dec_1_post", 20.0)]
FULL = [("k0_full0", 20.0), ("k1_full1", 8.0), ("k2_full2", 25.0), ("k3_full3", 8.0), ("k4_full4", 20.0)]


def test_partial_breakdown_states_each_group_from_the_cycles() -> None:
    u, p = _unfused(), _result("partial", PARTIAL)
    assert matmul_share(u) == 0.9
    text = partial_breakdown(u, p)
    assert "matmuls are 90.0% of the unfused cycles" in text and "in the pipeline 10.0%" in text
    assert "pre 1.60x (the fused kernel takes 2.00x its slowest unfused stage, q_mm)" in text
    assert "attn 2.25x (the fused kernel takes 1.00x its slowest unfused stage, sddmm)" in text
    assert "post 2.50x (the fused kernel takes 1.00x its slowest unfused stage, fc1_mm)" in text
    assert "unless memory-bound (pre: " in text and "attn," not in text.split("memory-bound")[1]


def test_full_breakdown_compares_merged_kernels_with_unfused_and_partial() -> None:
    alone = full_breakdown(_unfused(), _result("full", FULL))
    # the merged kernel (25) against its slowest stage (fc1_mm, 20) and the same stages unfused (32 + 50)
    assert "in 1 kernel; each takes 25 cycles, 1.25x its slowest stage (post fc1_mm), against 82" in alone
    assert "partial" not in alone
    text = full_breakdown(_unfused(), _result("full", FULL), _result("partial", PARTIAL))
    # post(0) + pre(1) = 40 cycles in partial, 25 merged: 15 of 96 partial cycles saved
    assert text.startswith(alone) and "and 40 for the two partial kernels" in text and "saves 15.6%" in text


def test_names_that_do_not_parse_give_no_breakdown() -> None:
    odd = _result("partial", [("k0_layer", 5.0)])
    assert partial_breakdown(_unfused(), odd) == ""
    assert full_breakdown(odd, _result("full", FULL)) == ""
    assert full_breakdown(_unfused(), _result("full", FULL[:3])) == ""  # one decoder: nothing merged
    assert full_breakdown(_unfused(), _result("full", FULL[:4])) == ""  # not 2 * decoders + 1 kernels


def test_report_falls_back_to_the_measured_block_and_says_so() -> None:
    u, p, f = _unfused("64"), _result("partial", PARTIAL, "64"), _result("full", FULL, "64")
    rows = [Row(u, 1.0), Row(p, u.cycles / p.cycles), Row(f, u.cycles / f.cycles)]
    cs = {c.fusion: c for c in compare(rows, {}) if c.model == "gpt3-bigbird"}
    assert cs["partial"].where == "paper: block 16; measured at block 64"
    assert cs["partial"].measured == 200 / 96 and "attn 2.25x" in cs["partial"].explanation()
    assert "full over partial 1.19x" in cs["full"].explanation()
    u16 = _unfused("16")
    rows.append(Row(u16, 1.0))
    rows.append(Row(_result("partial", PARTIAL, "16"), 1.5))
    cs = {c.fusion: c for c in compare(rows, {}) if c.model == "gpt3-bigbird"}
    assert cs["partial"].where == "block 16" and cs["partial"].measured == 1.5


def test_per_kernel_cycles_explain_a_row_without_flops_and_bytes() -> None:
    from dataclasses import replace

    u, p = replace(_unfused("16"), flops=None, bytes_moved=None), replace(_result("partial", PARTIAL, "16"),
                                                                            flops=None, bytes_moved=None)
    c = next(c for c in compare([Row(u, 1.0), Row(p, 200 / 96)], {}) if c.fusion == "partial"
             and c.model == "gpt3-bigbird")
    assert c.differs and c.explanation().startswith("measured: per kernel: matmuls are 90.0%")
