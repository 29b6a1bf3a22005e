"""ff-frontend's built-in plugin: registers its pieces through the fuseflow hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fuseflow.ir.hookspecs import hookimpl
from fuseflow.ir.plugins import CliCommand


@dataclass(frozen=True)
class TorchFrontend:
    """PyTorch models (zoo names or ``file.py:factory``) captured with torch.export."""

    name: str = "torch"

    def capture(self, source: str, options: dict[str, str] | None = None) -> Any:
        """The tensor program of ``source`` (see :meth:`load` for data and fusion)."""
        return self.load(source, options).program

    def load(self, source: str, options: dict[str, str] | None = None, dataset: str | None = None,
             fusion: str = "partial", data_dir: str | None = None) -> Any:
        from fuseflow.frontend.api import load_program

        return load_program(source, options or {}, dataset, fusion, data_dir)


@hookimpl
def fuseflow_frontends() -> list[Any]:
    return [TorchFrontend()]


@hookimpl
def fuseflow_fusion_strategies() -> list[Any]:
    from fuseflow.frontend.fusion import Strategy, full, partial, unfused

    return [
        Strategy("unfused", unfused, "one group per op"),
        Strategy("partial", partial, "one group per model layer (modules marked fuseflow_layer)"),
        Strategy("full", full, "one group, split at reshape views (fusion barriers)"),
    ]


@hookimpl
def fuseflow_cli_commands() -> list[CliCommand]:
    from fuseflow.frontend.cli import models_command

    return [CliCommand("models", command=models_command, help="List the model zoo and data sets.")]
