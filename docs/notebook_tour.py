"""A notebook-style tour of the Python API (run it as a script, or cell by cell in Jupyter).

    python docs/notebook_tour.py [--out DIR]

It writes a sparse model of its own, compiles it with ``fuseflow.compile`` at three fusion
granularities, simulates each (checked against PyTorch), prints how fast this machine runs
the same model, and writes an HTML report. A test runs it (packages/ff-dse/tests).
"""

# %% A user-written sparse model: two GCN-style layers over a random sparse adjacency
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import fuseflow
import torch
from fuseflow.dse.config import Config
from fuseflow.dse.report import write_report
from fuseflow.dse.result import Result, Status
from fuseflow.dse.store import Store


class TwoLayerGCN(torch.nn.Module):
    def __init__(self, nodes: int = 64, features: int = 16, hidden: int = 8, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        adj = (torch.rand(nodes, nodes, generator=g) < 0.05).float()
        self.register_buffer("adj", (adj + adj.T).clamp(max=1).to_sparse_csr())
        self.l1 = torch.nn.Linear(features, hidden)
        self.l2 = torch.nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.l1(self.adj @ x))
        return self.l2(self.adj @ h)


def main(out: Path) -> None:
    model = TwoLayerGCN()
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))

    # %% Compile and simulate three fusions (each checked against eager PyTorch)
    compiled = {f: fuseflow.compile(model, (x,), fusion=f) for f in ("unfused", "partial", "full")}
    results = {f: cm.simulate(check=True) for f, cm in compiled.items()}
    base = results["unfused"].cycles
    for f, r in results.items():
        print(f"{f:8s} {r.cycles:9d} cycles  {base / r.cycles:5.2f}x over unfused  check {r.check}")
    print(compiled["partial"])  # per-kernel summary (an HTML table in Jupyter)

    # %% The same model on this machine, beside the simulated design at 1 GHz
    print(compiled["partial"].baseline(compiled=False, repeats=5).table())

    # %% An HTML report (plots, results, where the cycles go)
    out.mkdir(parents=True, exist_ok=True)
    with Store(out / "results.sqlite") as st:
        for f, r in results.items():
            cfg = Config("user:TwoLayerGCN", "random64", fusion=f)
            st.put(Result(cfg, cfg.key(), Status.OK if r.check == "pass" else Status.MISMATCH,
                          cycles=float(r.cycles), flops=float(r.flops), bytes_moved=float(r.bytes_moved),
                          kernel_cycles=tuple((k.name, float(k.cycles)) for k in r.kernels),
                          check=r.check == "pass", max_rel_error=r.max_rel_error, wall_time=r.wall_time))
        write_report(st, out, title="TwoLayerGCN: three fusions", breakdown=False)
    print(f"report: {out / 'report.html'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "fuseflow-tour")
    main(ap.parse_args().out)
