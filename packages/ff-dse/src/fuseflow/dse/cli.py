"""``ff dse ...`` and ``ff demo``. ``ff dse MODEL ...`` is short for ``ff dse run MODEL ...``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from fuseflow.ir.errors import FuseFlowError


class DseGroup(TyperGroup):
    """A group whose unknown first word is a model name for ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


dse_app = typer.Typer(cls=DseGroup, no_args_is_help=True,
                      help="Design-space exploration: sweeps, pruning, autoscheduling, reports. "
                           "`ff dse MODEL ...` runs a sweep (same as `ff dse run MODEL ...`).")
study_app = typer.Typer(no_args_is_help=True, help="Studies from the paper.")
dse_app.add_typer(study_app, name="study")

EXECUTOR = typer.Option("local", "--executor", help="local (process pool) or ray (pip install 'ff-dse\\[ray]').")
ADDRESS = typer.Option(None, "--address", help="Ray cluster address (default: start a local instance).")
WORKERS = typer.Option(None, "--workers", "-j", min=1, help="Parallel evaluations (default: CPUs).")
EVALUATOR = typer.Option(None, "--evaluator",
                         help="module:function evaluator, `fast` (the default engine), `reference` (the reference engine) or `synthetic` (dry run).")


def _evaluators(name: str | None) -> tuple[Any, Any]:
    from fuseflow.dse.evaluate import estimate_config, evaluate, resolve

    ev = resolve(name, evaluate)
    est = resolve(name, estimate_config) if name == "synthetic" else estimate_config
    return ev, est


def _check_executor(name: str) -> None:
    from fuseflow.dse.executors import get_executor

    get_executor(name)


@dse_app.command("run")
def run_command(
    model: str = typer.Argument(..., help="Zoo model name (gcn, graphsage, sae, gpt3-bigbird, ...)."),
    dataset: list[str] | None = typer.Option(None, "--dataset", "-d", help="Data set(s); repeat to sweep."),  # noqa: UP007
    space: Path | None = typer.Option(None, "--space", help="YAML/TOML space file narrowing the knobs."),  # noqa: UP007
    executor: str = EXECUTOR,
    address: str | None = ADDRESS,  # noqa: UP007
    workers: int | None = WORKERS,  # noqa: UP007
    store: Path = typer.Option(Path("dse.sqlite"), "--store", help="SQLite results store (resumable)."),
    prune: bool = typer.Option(False, "--prune", help="Simulate only configs the cost model cannot rule out."),
    keep: int | None = typer.Option(None, "--keep", min=1, help="With --prune: top-k per workload (default 25%)."),  # noqa: UP007
    auto: bool = typer.Option(False, "--auto", help="Autoschedule: best config within --budget simulations."),
    budget: int = typer.Option(8, "--budget", min=1, help="Simulations for --auto."),
    option: list[str] | None = typer.Option(None, "-m", help="Model option KEY=VALUE (KEY=a|b sweeps)."),  # noqa: UP007
    setting: list[str] | None = typer.Option(None, "--set", help="Narrow a knob: NAME=V1,V2 (fusion, order, par, block, hw, ...)."),  # noqa: UP007
    only_named: bool = typer.Option(False, "--only-named", help="Knobs (other than fusion) not named by "
                                    "--space/--set/-m keep their first declared value."),
    out: Path | None = typer.Option(None, "--out", help="Also write a report directory."),  # noqa: UP007
    evaluator: str | None = EVALUATOR,  # noqa: UP007
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    baseline: bool = typer.Option(False, "--baseline", help="With --out: time each workload's PyTorch "
                                  "model on this machine beside its best simulated time."),
    retry_failed: bool = typer.Option(False, "--retry-failed/--skip-failed",
                                      help="Rerun configs that failed in an earlier sweep (default: keep "
                                           "their recorded failure)."),
) -> None:
    """Sweep a model's design space (resumes from --store; failures are recorded)."""
    from fuseflow.dse.auto import autoschedule
    from fuseflow.dse.prune import PrunePolicy
    from fuseflow.dse.report import print_table, rows, write_report
    from fuseflow.dse.space import build_space
    from fuseflow.dse.store import Store
    from fuseflow.dse.sweep import run_sweep

    _check_executor(executor)
    sp = build_space(model, space_file=space, datasets=dataset, options=option, settings=setting,
                     only_named=only_named)
    configs = list(sp.configs())
    if evaluator != "synthetic":  # the dry-run evaluator takes made-up workloads
        check_workloads(configs)
    typer.echo(f"space: {sp.describe()} -> {len(configs)} configurations; store {store}")
    ev, est = _evaluators(evaluator)
    with Store(store) as st:
        if auto:
            res = autoschedule(configs, st, budget, evaluator=ev, estimator=est, executor=executor,
                               workers=workers, address=address,
                               log=lambda r: typer.echo(f"  simulated {r.config.label()}: "
                                                        f"{r.cycles if r.ok else r.error}"))
            typer.echo(f"autoschedule: {res.simulated} simulations (+{res.reused} reused) of {res.space} configs")
            if res.best is None:
                raise FuseFlowError("no configuration simulated successfully within the budget")
            typer.echo(f"best: {res.best.config.label()}: {res.best.cycles:.6g} cycles")
            typer.echo(f"reproduce with: {res.command()}")
            results = [r for r in st.results() if r.key in {c.key() for c in configs}]
        else:
            policy = PrunePolicy(top_k=keep) if prune else None
            summary = run_sweep(configs, st, evaluator=ev, estimator=est, executor=executor,
                                workers=workers, address=address, prune=policy, progress=progress,
                                title=model, retry_failed=retry_failed,
                                log=None if progress else (lambda s: typer.echo(s, err=True)))
            results = summary.results
            typer.echo(summary.line())
            _print_failures(summary)
            if summary.prune:
                typer.echo(summary.prune.summary())
            best = summary.best()
            if best:
                typer.echo(f"best: {best.config.label()}: {best.cycles:.6g} cycles; reproduce with: "
                           f"{best.config.compile_command()}")
        print_table(rows(results), title=f"{model} design space")
        if out:
            typer.echo(f"report: {write_report(st, out, baseline=baseline)}")
    _fail_if_none_ok(results, store)


def check_workloads(configs: list[Any]) -> None:
    """Fail before sweeping when a model, model option or data set of the space does not exist."""
    from fuseflow.frontend.api import check_workload

    for model, options, dataset in {(c.model, c.options, c.dataset) for c in configs}:
        check_workload(model, dict(options), dataset)


def _print_failures(summary: Any) -> None:
    reasons = summary.invalid_causes()
    if reasons:
        typer.echo("invalid (not simulated) by reason:")
        for reason, n in reasons:
            typer.echo(f"  {n:5d} x {reason}")
    causes = summary.failure_causes()
    if causes:
        typer.echo("failures by cause:")
        for cause, n in causes:
            typer.echo(f"  {n:5d} x {cause}")


def _fail_if_none_ok(results: list[Any], store: Path) -> None:
    failed = [r for r in results if not r.ok]
    if results and len(failed) == len(results):
        raise FuseFlowError(f"all {len(failed)} configurations failed (first: {failed[0].error}); "
                            f"the failures are recorded in {store}")


@dse_app.command("report")
def report_command(
    store: Path = typer.Argument(..., help="A results store written by a sweep."),
    out: Path = typer.Option(Path("dse-report"), "--out", help="Report directory."),
    baseline: bool = typer.Option(False, "--baseline", help="Time each workload's PyTorch model on this "
                                  "machine beside its best simulated time."),
) -> None:
    """Write CSV/JSON/PNG/Markdown/HTML reports from a store."""
    from fuseflow.dse.report import print_table, rows
    from fuseflow.dse.report import write_report as write
    from fuseflow.dse.store import Store

    if not store.is_file():
        from fuseflow.ir.errors import DataError

        raise DataError(f"no results store at {store}")
    with Store(store) as st:
        print_table(rows(st.results()), title=str(store))
        typer.echo(f"report: {write(st, out, baseline=baseline)}")


def _study(configs: list[Any], labels: dict[str, str], out: Path, title: str, executor: str, address: str | None,
           workers: int | None, evaluator: str | None, fresh: bool, progress: bool,
           notes: list[str] | None = None, share_kernels: bool = True) -> None:
    """Run a study; ``notes`` say what follows the paper and what is our choice (report.md).
    With ``share_kernels`` its evaluations reuse each other's kernel figures (shared_figures.py)."""
    from fuseflow.dse.report import print_table, rows, write_report
    from fuseflow.dse.store import Store
    from fuseflow.dse.studies import speedup_summary
    from fuseflow.dse.sweep import run_sweep

    _check_executor(executor)
    ev, est = _evaluators(evaluator)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "results.sqlite"
    if fresh and db.exists():
        for p in out.glob("results.sqlite*"):
            p.unlink()
    if fresh:
        shutil.rmtree(out / "kernel-figures", ignore_errors=True)
    if share_kernels:
        from fuseflow.dse.shared_figures import sharing

        ev = sharing(ev, out)
    configs = sorted(configs, key=lambda c: -c.work_hint())  # longest first: the last to finish starts early
    t0 = time.perf_counter()
    with Store(db) as st:
        summary = run_sweep(configs, st, evaluator=ev, estimator=est, executor=executor, workers=workers,
                            address=address, progress=progress, title=title,
                            log=None if progress else (lambda s: typer.echo(s, err=True)))
        wall = time.perf_counter() - t0
        rs = rows(summary.results)
        print_table(rs, title=title)
        lines = speedup_summary(rs)
        for line in lines:
            typer.echo(line)
        for r in summary.results:
            if not r.ok:
                typer.echo(f"failed: {r.config.label()}: {r.error}", err=True)
        typer.echo(summary.line())
        _print_failures(summary)
        typer.echo(f"wall time: {wall:.1f} s")
        extra = "## Speedups beside the paper\n\n" + "\n".join(f"- {line}" for line in lines)
        extra += f"\n\nWall time: {wall:.1f} s ({summary.line()})."
        from fuseflow.dse.paper_compare import compare, markdown

        extra += "\n\n" + markdown(compare(rs, labels), notes)
        path = write_report(st, out, title=title, extra_md=extra, labels=labels)
        typer.echo(f"report: {path} (plots, results.csv, results.json, results.sqlite in {out})")
    _fail_if_none_ok(summary.results, db)


@study_app.command("figure12")
def figure12_command(
    mode: str = typer.Option("fast", "--mode", help="fast or medium (scaled Table 2 sizes), or paper (full size)."),
    models: str | None = typer.Option(None, "--models", help="Only these models, e.g. gcn,graphsage (gpt3 for gpt3-bigbird)."),  # noqa: UP007
    datasets: str | None = typer.Option(None, "--datasets", help="Only these data sets, e.g. collab (the paper's names)."),  # noqa: UP007
    all_fusions: bool = typer.Option(False, "--all-fusions", help="Also run the full fusions the paper's artifact skips "
                                     "(GCN on mag, GraphSAGE on collab and mag)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Real data set files (default: synthetic)."),  # noqa: UP007
    out: Path = typer.Option(Path("ff-figure12"), "--out"),
    hw: str = typer.Option("default", "--hw", help="default, no-hbm or a hardware file."),
    executor: str = EXECUTOR,
    address: str | None = ADDRESS,  # noqa: UP007
    workers: int | None = WORKERS,  # noqa: UP007
    evaluator: str | None = EVALUATOR,  # noqa: UP007
    fresh: bool = typer.Option(False, "--fresh", help="Ignore earlier results in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    share_kernels: bool = typer.Option(True, "--share-kernels/--no-share-kernels",
                                       help="Evaluations reuse the figures of kernels another evaluation simulated "
                                            "(e.g. GPT-3's dense layers at every block); same results."),
) -> None:
    """The paper's Figure 12: speedup of partial/full fusion over unfused per model and data set."""
    from fuseflow.dse.sizes import MODES, figure12_workloads, select_workloads
    from fuseflow.dse.studies import dataset_labels, workload_configs

    if mode not in MODES:
        from fuseflow.ir.errors import UnknownNameError

        raise UnknownNameError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
    wls = select_workloads(figure12_workloads(mode, str(data_dir) if data_dir else None), _names(models),
                           _names(datasets))
    if not wls:
        from fuseflow.ir.errors import UnknownNameError

        raise UnknownNameError(f"no Figure 12 workload matches --models {models or '*'} --datasets {datasets or '*'}")
    from fuseflow.dse.paper_compare import provenance

    _study(workload_configs(wls, hw=hw, all_fusions=all_fusions), dataset_labels(wls), out, f"Figure 12 ({mode})",
           executor, address, workers, evaluator, fresh, progress,
           provenance(mode, str(data_dir) if data_dir else None, hw), share_kernels)


@study_app.command("figure17")
def figure17_command(
    hw: str = typer.Option("no-hbm", "--hw", help="no-hbm, default or a hardware file."),
    b_sparse: bool = typer.Option(False, "--b-sparse", help="Store B compressed too (the artifact stores it dense)."),
    seed: int = typer.Option(4, "--seed", help="Seed of the random B and C."),
    artifact_c: bool = typer.Option(False, "--artifact-c", help="C as the artifact's generator writes it for "
                                    "l-before-j orders (shape swapped twice: 34 stored columns, not 16)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the rows to this JSON file."),  # noqa: UP007
) -> None:
    """The paper's dataflow-order study: (A B) C over KarateClub in every order, spread beside ~29x."""
    from fuseflow.dse.order_study import order_sweep, report_lines

    rows = order_sweep(hw=hw, b_sparse=b_sparse, seed=seed, artifact_c=artifact_c)
    typer.echo(f"(A B) C over KarateClub, hw={hw}, B {'compressed' if b_sparse else 'dense'}, seed {seed}"
               f"{', C as the artifact writes it' if artifact_c else ''}")
    for line in report_lines(rows):
        typer.echo(line)
    if json_out is not None:
        import json

        json_out.write_text(json.dumps([r.to_json() for r in rows], indent=1))


def _names(text: str | None) -> list[str] | None:
    """``a,b`` -> ``["a", "b"]``; None or empty -> None (no filter)."""
    names = [x.strip() for x in (text or "").split(",") if x.strip()]
    return names or None


def demo_command(
    out: Path = typer.Option(Path("ff-demo"), "--out", help="Report directory."),
    executor: str = EXECUTOR,
    address: str | None = ADDRESS,  # noqa: UP007
    workers: int | None = WORKERS,  # noqa: UP007
    evaluator: str | None = EVALUATOR,  # noqa: UP007
    fresh: bool = typer.Option(False, "--fresh", help="Ignore earlier results in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Figure-12-style study of gcn, graphsage, sae and gpt3-bigbird (unfused/partial/full), small sizes."""
    from fuseflow.dse.sizes import DEMO
    from fuseflow.dse.studies import dataset_labels, workload_configs

    configs = workload_configs(DEMO)
    labels = dataset_labels(DEMO)
    typer.echo(f"ff demo: {len(configs)} configurations of gcn, graphsage, sae, gpt3-bigbird "
               f"x unfused/partial/full -> {out}/")
    _study(configs, labels, out, "FuseFlow demo", executor, address, workers, evaluator, fresh, progress,
           ["ff demo: toy sizes (karate, 48-node random graphs, 8x8 images, a 2-decoder GPT-3 with seq 32) to "
            "show the flow in minutes; nothing here is at the paper's sizes (`ff dse study figure12 --mode "
            "paper` runs those)."])
