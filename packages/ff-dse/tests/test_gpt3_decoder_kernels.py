"""Why N identical GPT-3 decoders are not N x one decoder under full fusion (issue 17).

Unfused/partial: each decoder compiles to its own kernels, so N decoders cost exactly N x one.
Full fusion merges decoder i's post-attention kernel with decoder i+1's pre-attention kernel,
so N decoders are: pre(0), then N attention kernels, N-1 boundary kernels (post(i)+pre(i+1)),
and post(N-1). Identical kernels have identical cycles, which is what a kernel-level reuse
keyed on the kernel and its inputs may exploit; reusing whole decoders would be wrong.
"""

from __future__ import annotations

from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import evaluate


def _gpt3(decoders: int, fusion: str) -> Config:
    return Config("gpt3-bigbird", None, (("decoders", str(decoders)), ("seq", "32"), ("d_model", "16"),
                                         ("heads", "2"), ("block", "16")), fusion=fusion)


def test_partial_decoders_scale_exactly_and_full_fusion_merges_across_decoders() -> None:
    p1, p2 = evaluate(_gpt3(1, "partial")), evaluate(_gpt3(2, "partial"))
    assert p1.ok and p2.ok and p2.cycles == 2 * p1.cycles and p2.flops == 2 * p1.flops  # type: ignore[operator]  # ok results carry figures
    f1, f3 = evaluate(_gpt3(1, "full")), evaluate(_gpt3(3, "full"))
    assert f1.ok and f3.ok
    c1 = [c for _, c in f1.kernel_cycles]
    c3 = [c for _, c in f3.kernel_cycles]
    assert len(c1) == 3 and len(c3) == 2 * 3 + 1  # pre, (attn, boundary) x 2, attn, post
    pre, attn, post = c1
    boundary = c3[2]
    assert c3 == [pre, attn, boundary, attn, boundary, attn, post]
    assert boundary not in (pre, post)  # the boundary kernel is a different kernel
    assert f3.cycles == pre + 3 * attn + 2 * boundary + post != 3 * f1.cycles  # type: ignore[operator]  # ok results carry figures
