"""``ff models [MODEL]``: the zoo and the data sets, or one model's options."""

from __future__ import annotations

import typer


def models_command(model: str | None = typer.Argument(None, help="A zoo model to describe.")) -> None:  # noqa: UP007
    """List the model zoo and the data sets; with MODEL, its options, defaults and index names."""
    from fuseflow.frontend import datasets, zoo

    if model is None:
        typer.echo("models:")
        for spec in zoo.models().values():
            typer.echo(f"  {spec.name:<18} {spec.description}")
        typer.echo("  FILE.py:FACTORY    your own model: FACTORY() returns (module, example_inputs)")
        typer.echo("data sets:")
        for key, info in datasets.CATALOG.items():
            typer.echo(f"  {key:<40} {info.kind:<7} {info.description}")
        typer.echo("fusion: unfused, partial, full, or a spec such as 'g1=l1;g2=l2'")
        return
    spec = zoo.get(model)
    typer.echo(f"{spec.name}: {spec.description}")
    typer.echo("options (-m NAME=VALUE):")
    for o in spec.options:
        typer.echo(f"  {o.name:<10} {o.type.__name__:<6} default {o.default!s:<8} {o.help}")
    if spec.index_names:
        typer.echo("index names:")
        for t, names in spec.index_names.items():
            typer.echo(f"  {t}: {', '.join(names)}")
    typer.echo(f"default data set: {spec.default_dataset or 'none (makes its own inputs)'}")
    if spec.dataset_kinds:
        typer.echo(f"accepts data sets of kind: {', '.join(spec.dataset_kinds)}")
