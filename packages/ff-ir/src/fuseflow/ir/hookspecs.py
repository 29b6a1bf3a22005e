"""Every FuseFlow hook, in one place.

A plugin is a module or object with functions named like the specs below, decorated
with :data:`hookimpl`, published under the entry-point group ``fuseflow``. Built-in
pieces register through these same hooks. Each hook returns a list of named items; a
name claimed by two plugins is an error naming both.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "fuseflow"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def fuseflow_frontends() -> list[Any]:
    """Model sources. Each item has ``name`` and ``capture(source, options) -> TensorProgram``
    (e.g. a PyTorch ``torch.export`` reader, an ONNX or MLIR reader)."""
    return []  # a spec: plugins provide the implementations


@hookspec
def fuseflow_fusion_strategies() -> list[Any]:
    """Fusion strategies. Each item has ``name`` and ``groups(program) -> list[FusionGroup]``
    (the presets ``unfused``, ``partial`` and ``full`` are built-ins)."""
    return []  # a spec: plugins provide the implementations


@hookspec
def fuseflow_formats() -> list[Any]:
    """Sparsity formats. Each item is a :class:`fuseflow.ir.plugins.FormatSpec`
    (a name such as ``CSR`` and the per-level :class:`TensorFormat` it stands for)."""
    return []  # a spec: plugins provide the implementations


@hookspec
def fuseflow_engines() -> list[Any]:
    """Simulator engines. Each item has ``name`` and ``run(program, hw, options) -> result``."""
    return []  # a spec: plugins provide the implementations


@hookspec
def fuseflow_executors() -> list[Any]:
    """DSE executors (local process pool, Ray, ...). Each item has ``name`` and ``map``."""
    return []  # a spec: plugins provide the implementations


@hookspec
def fuseflow_cli_commands() -> list[Any]:
    """CLI subcommands of ``ff``. Each item is a :class:`fuseflow.ir.plugins.CliCommand`:
    a name plus either a Typer sub-application or a single command function."""
    return []  # a spec: plugins provide the implementations
