"""Plugin discovery (pluggy, entry-point group ``fuseflow``) and name registries."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pluggy

from fuseflow.ir import hookspecs
from fuseflow.ir.errors import PluginError, UnknownNameError
from fuseflow.ir.formats import TensorFormat

T = TypeVar("T")


@dataclass(frozen=True)
class FormatSpec:
    name: str
    format: TensorFormat
    help: str = ""


@dataclass(frozen=True)
class CliCommand:
    name: str
    app: Any = None  # a typer.Typer for a command group
    command: Callable[..., Any] | None = None  # or a single command function
    help: str = ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    item: T
    plugin: str  # plugin name
    distribution: str  # distribution that installed it ("" when registered in-process)


class Registry(Generic[T]):
    """Maps names to items; a second registration of a name is an error naming both plugins."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, item: T, plugin: str = "<local>", distribution: str = "") -> None:
        if name in self._entries:
            other = self._entries[name]
            raise PluginError(
                f"{self.what} {name!r} is registered twice: by plugin {other.plugin!r}"
                f" ({other.distribution or 'in-process'}) and by plugin {plugin!r}"
                f" ({distribution or 'in-process'})"
            )
        self._entries[name] = Entry(name, item, plugin, distribution)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].item
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.what} {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]


HOOKS = {
    "frontend": "fuseflow_frontends",
    "fusion strategy": "fuseflow_fusion_strategies",
    "format": "fuseflow_formats",
    "engine": "fuseflow_engines",
    "executor": "fuseflow_executors",
    "command": "fuseflow_cli_commands",
}


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    return pm


@functools.lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    return make_plugin_manager()


def _distributions(pm: pluggy.PluginManager) -> dict[int, str]:
    out: dict[int, str] = {}
    for plugin, dist in pm.list_plugin_distinfo():
        out[id(plugin)] = f"{dist.project_name} {dist.version}"
    return out


def build_registry(what: str, pm: pluggy.PluginManager | None = None) -> Registry[Any]:
    """Collect one hook's items from every plugin into a registry (duplicates rejected)."""
    pm = pm or plugin_manager()
    reg: Registry[Any] = Registry(what)
    dists = _distributions(pm)
    hook = getattr(pm.hook, HOOKS[what])
    for impl in reversed(hook.get_hookimpls()):  # registration order
        items = impl.function() or []
        for item in items:
            reg.register(_name_of(item), item, impl.plugin_name, dists.get(id(impl.plugin), ""))
    return reg


def _name_of(item: Any) -> str:
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin item {item!r} has no name")
    return name


@functools.cache
def registry(what: str) -> Registry[Any]:
    """The process-wide registry of one kind of plugin item (built once)."""
    return build_registry(what)


def reset() -> None:
    """Forget cached registries (tests that install plugins at run time)."""
    registry.cache_clear()
    plugin_manager.cache_clear()


def lookup_format(text: str) -> TensorFormat:
    """A format by plugin-registered name (CSR, BSR16, ...) or by spec text (``dc``, ``cc@1,0``)."""
    reg = registry("format")
    key = text.strip()
    for cand in (key, key.upper()):
        if cand in reg:
            return reg.get(cand).format  # type: ignore[no-any-return]  # registry entries of this kind hold a TensorFormat
    return TensorFormat.parse(key)
