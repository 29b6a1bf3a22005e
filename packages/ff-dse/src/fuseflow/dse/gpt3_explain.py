"""Where GPT-3's cycles go, from the per-kernel cycles of measured runs: the Figure 12 report's
explanation of a GPT-3 speedup, stated from measured figures only.

Kernel names follow the fusion pass: unfused ``k<i>_dec_<d>_<group>_<op>`` (group ``pre``,
``attn`` or ``post``), partial ``k<i>_dec_<d>_<group>``, full ``k<i>_full<j>`` where full is
partial with the ``post`` group of decoder n merged into the ``pre`` group of decoder n+1.
Anything else yields no breakdown (the caller then says so).
"""

from __future__ import annotations

import re
from collections import defaultdict

from fuseflow.dse.result import Result

GROUPS = ("pre", "attn", "post")
_UNFUSED = re.compile(r"k\d+_dec_(\d+)_(pre|attn|post)_(\w+)$")
_PARTIAL = re.compile(r"k\d+_dec_(\d+)_(pre|attn|post)$")
_FULL = re.compile(r"k\d+_full\d+$")
_MATMUL = ("_mm", "sddmm")


def _unfused_groups(unfused: Result) -> dict[str, dict[str, float]] | None:
    """group -> op -> cycles summed over decoders, or None when a kernel name does not parse."""
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, cycles in unfused.kernel_cycles:
        m = _UNFUSED.match(name)
        if not m:
            return None
        groups[m[2]][m[3]] += cycles
    return groups if set(groups) == set(GROUPS) else None


def _partial_groups(partial: Result) -> dict[str, list[float]] | None:
    groups: dict[str, list[float]] = defaultdict(list)
    for name, cycles in partial.kernel_cycles:
        m = _PARTIAL.match(name)
        if not m:
            return None
        groups[m[2]].append(cycles)
    return groups if set(groups) == set(GROUPS) else None


def matmul_share(unfused: Result) -> float | None:
    """Fraction of the unfused cycles spent in the matmul kernels (QKV, out, FFN, QK^T, .V)."""
    total = sum(c for _, c in unfused.kernel_cycles)
    mm = sum(c for n, c in unfused.kernel_cycles if n.endswith(_MATMUL))
    return mm / total if total else None


def partial_breakdown(unfused: Result, partial: Result) -> str:
    """Per group: unfused sum / fused cycles, and the fused kernel against its slowest unfused
    stage (1.00x = the stages run fully overlapped, as one pipeline)."""
    ug, pg, share = _unfused_groups(unfused), _partial_groups(partial), matmul_share(unfused)
    if ug is None or pg is None or share is None:
        return ""
    parts, slow_groups = [], []
    for g in GROUPS:
        fused = sum(pg[g])
        slow_op, slow = max(ug[g].items(), key=lambda kv: kv[1])
        parts.append(f"{g} {sum(ug[g].values()) / fused:.2f}x (the fused kernel takes {fused / slow:.2f}x "
                     f"its slowest unfused stage, {slow_op})")
        if fused > 1.1 * slow:
            slow_groups.append(g)
    text = (f"per kernel: matmuls are {share:.1%} of the unfused cycles, the elementwise, LayerNorm and softmax "
            f"kernels whose intermediates fusion keeps in the pipeline {1 - share:.1%}; the gain is the "
            f"overlap of consecutive stages in one kernel: " + ", ".join(parts)
            + "; our timing model (unbounded channels, as Comal's default depth is never reached) lets a fused "
            "kernel run at its slowest stage")
    if slow_groups == ["pre"]:
        text += (" unless memory-bound (pre: the fused kernel recomputes LayerNorm per output column and reads "
                 "6 words per multiply-add; with --hw no-hbm it runs at its slowest stage, docs/dse.md)")
    elif slow_groups:
        text += f" unless it waits for memory or inputs ({', '.join(slow_groups)})"
    return text + "; the paper gives no per-kernel cycles, so its side is not measured"


def full_breakdown(unfused: Result, full: Result, partial: Result | None = None) -> str:
    """Full fusion's merged kernels (post of decoder n with pre of n+1) against the same stages
    unfused and against their slowest stage; with ``partial``, also against the two partial
    kernels each replaces."""
    ug = _unfused_groups(unfused)
    names = [n for n, _ in full.kernel_cycles]
    if ug is None or not names or not all(_FULL.match(n) for n in names) or len(names) % 2 == 0:
        return ""
    dec = (len(names) - 1) // 2
    cyc = [c for _, c in full.kernel_cycles]
    if dec < 2:
        return ""
    merged = sum(cyc[2 * i] for i in range(1, dec)) / (dec - 1)  # k2, k4, ...: post(n-1) + pre(n)
    n_dec = len([n for n, _ in unfused.kernel_cycles if n.endswith("_pre_ln_layernorm")]) or 1
    stages = {**{f"pre {k}": v / n_dec for k, v in ug["pre"].items()},
              **{f"post {k}": v / n_dec for k, v in ug["post"].items()}}
    slow_op, slow = max(stages.items(), key=lambda kv: kv[1])
    text = (f"per kernel: full merges post(n) with pre(n+1) in {dec - 1} kernel{'s' if dec > 2 else ''}; each "
            f"takes {merged:.3g} cycles, {merged / slow:.2f}x its slowest stage ({slow_op}), against "
            f"{sum(stages.values()):.3g} for the same stages unfused")
    pg = _partial_groups(partial) if partial is not None else None
    if pg is not None and len(pg["pre"]) == dec:
        replaced = sum(pg["post"][i - 1] + pg["pre"][i] for i in range(1, dec)) / (dec - 1)
        saved = (replaced - merged) * (dec - 1) / sum(sum(v) for v in pg.values())
        text += (f" and {replaced:.3g} for the two partial kernels it replaces (pre runs under post), which "
                 f"saves {saved:.1%} of the partial cycles")
    return text
