"""Executors run an evaluation function over many configurations, yielding as each finishes.

They are plugins (hook ``fuseflow_executors``): items with a ``name`` and
``map(fn, items, workers=N, address=None) -> Iterator[Outcome]``. ``fn`` must be a
module-level function (it is pickled). Built-ins: ``local`` (a process pool) and
``ray`` (registered when ray is importable; ``pip install ff-dse[ray]``).
"""

from __future__ import annotations

import atexit
import importlib.util
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from fuseflow.ir.errors import UnknownNameError

MapFn = Callable[..., Iterator["Outcome"]]


@dataclass(frozen=True)
class Outcome:
    """One finished item: the function's value, or the error text if it raised or its worker died."""

    item: Any
    value: Any = None
    error: str = ""


@dataclass(frozen=True)
class ExecutorSpec:
    name: str
    map: MapFn
    help: str = ""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def local_map(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int | None = None,
              address: str | None = None) -> Iterator[Outcome]:
    """A ``spawn`` process pool of ``workers`` processes; at most 2 x workers tasks in flight."""
    del address
    workers = workers or default_workers()
    todo = iter(items)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        running: dict[Future[Any], Any] = {}
        broken = ""

        def submit_more() -> None:
            while len(running) < 2 * workers:
                try:
                    item = next(todo)
                except StopIteration:
                    return
                running[pool.submit(fn, item)] = item

        submit_more()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                item = running.pop(fut)
                try:
                    yield Outcome(item, fut.result())
                except BrokenProcessPool as e:
                    broken = f"worker process died: {e}"
                    yield Outcome(item, error=broken)
                except Exception as e:  # noqa: BLE001 - reported, not swallowed
                    yield Outcome(item, error=f"{type(e).__name__}: {e}")
            if broken:
                for item in list(running.values()) + list(todo):
                    yield Outcome(item, error=broken)
                return
            submit_more()


def ray_map(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int | None = None,
            address: str | None = None) -> Iterator[Outcome]:
    """Ray tasks (one CPU each). ``address`` joins a cluster; without it a local instance
    with ``workers`` CPUs is started (and shut down when the process exits)."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or default_workers(), **kwargs)
        atexit.register(ray.shutdown)  # kept up for later sweeps of this process
    remote = ray.remote(num_cpus=1, max_retries=0)(fn)
    pending = {remote.remote(item): item for item in items}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            item = pending.pop(ref)
            try:
                yield Outcome(item, ray.get(ref))
            except Exception as e:  # noqa: BLE001 - task errors become outcomes
                yield Outcome(item, error=f"{type(e).__name__}: {e}")


def builtin_executors() -> list[ExecutorSpec]:
    out = [ExecutorSpec("local", local_map, "process pool on this machine (default)")]
    if importlib.util.find_spec("ray") is not None:
        out.append(ExecutorSpec("ray", ray_map, "Ray tasks on a local instance or --address cluster"))
    return out


def get_executor(name: str) -> ExecutorSpec:
    from fuseflow.ir.plugins import registry

    reg = registry("executor")
    if name not in reg:
        hint = " (install it with: pip install 'ff-dse[ray]')" if name == "ray" else ""
        raise UnknownNameError(f"unknown executor {name!r}{hint} (known: {', '.join(reg.names())})")
    return reg.get(name)  # type: ignore[no-any-return]
