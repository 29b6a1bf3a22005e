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
from collections.abc import Callable, Generator, Iterable, Iterator
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


def die_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the sweep's process dies (even by
    ``kill -9``), so no worker, nor the resource tracker whose pipe it holds, is left behind.
    Linux asks the kernel (PR_SET_PDEATHSIG); elsewhere a daemon thread watches the parent."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="ff-dse-parent-watch", daemon=True).start()


def _pool(workers: int, ctx: Any) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent,
                               initargs=(os.getpid(),))


def memory_hint(item: Any) -> int:
    """The bytes an item says its evaluation may take at its peak (``item.memory_hint()``), or 0."""
    hint = getattr(item, "memory_hint", None)
    return int(hint()) if callable(hint) else 0


def local_map(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int | None = None,
              address: str | None = None) -> Iterator[Outcome]:
    """A ``spawn`` process pool of ``workers`` processes, one task per worker. An item starts
    only while the memory hints of the running items and its own fit in the memory available
    when the map began (less a spare GiB); a later item that fits may go first, and an item
    that fits nowhere runs when nothing else does.

    A worker that dies (killed, out of memory) breaks the whole pool. The items that were in
    flight are then run again one at a time, each in a fresh process: the one that kills
    its process again fails, and the others complete. The rest go to a new pool.
    """
    del address
    from fuseflow.ir.sysmem import available_bytes

    workers = workers or default_workers()
    free = available_bytes()
    budget = None if free is None else free - (1 << 30)
    waiting = Backlog(iter(items), 2 * workers)
    ctx = multiprocessing.get_context("spawn")
    while True:
        suspects = yield from _pool_session(fn, waiting, workers, ctx, budget)
        if not suspects:
            return
        for item in suspects:
            yield _alone(fn, item, ctx)


@dataclass
class Backlog:
    """The next ``ahead`` items of ``todo``, from which the first that fits is taken."""

    todo: Iterator[Any]
    ahead: int

    def __post_init__(self) -> None:
        self.items: list[Any] = []

    def take(self, fits: Callable[[Any], bool]) -> Any | None:
        while len(self.items) < self.ahead and (item := next(self.todo, _END)) is not _END:
            self.items.append(item)
        pick = next((i for i in self.items if fits(i)), None)
        if pick is not None:
            self.items.remove(pick)
        return pick


_END = object()


def _pool_session(fn: Callable[[Any], Any], waiting: Backlog, workers: int, ctx: Any,
                  budget: int | None) -> Generator[Outcome, None, list[Any]]:
    """Run items from ``waiting`` until it is exhausted (returns []) or the pool breaks
    (returns the items that were in flight)."""
    with _pool(workers, ctx) as pool:
        running: dict[Future[Any], Any] = {}

        def fits(item: Any) -> bool:
            used = sum(memory_hint(i) for i in running.values())
            return not running or budget is None or used + memory_hint(item) <= budget

        def submit_more() -> None:
            while len(running) < workers and (item := waiting.take(fits)) is not None:
                running[pool.submit(fn, item)] = item

        submit_more()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            suspects: list[Any] = []
            for fut in done:
                item = running.pop(fut)
                try:
                    yield Outcome(item, fut.result())
                except BrokenProcessPool:
                    suspects.append(item)
                except Exception as e:  # noqa: BLE001 - reported, not swallowed
                    yield Outcome(item, error=f"{type(e).__name__}: {e}")
            if suspects:
                return suspects + list(running.values())
            submit_more()
    return []


def _alone(fn: Callable[[Any], Any], item: Any, ctx: Any) -> Outcome:
    with _pool(1, ctx) as pool:
        try:
            return Outcome(item, pool.submit(fn, item).result())
        except BrokenProcessPool as e:
            return Outcome(item, error=f"worker process died (killed or out of memory): {e}")
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            return Outcome(item, error=f"{type(e).__name__}: {e}")


def ray_map(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int | None = None,
            address: str | None = None) -> Iterator[Outcome]:
    """Ray tasks (one CPU each, and the item's memory hint as Ray's ``memory`` resource, at
    most the largest node's). ``address`` joins a cluster; without it a local instance with
    ``workers`` CPUs is started (and shut down when the process exits)."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or default_workers(), **kwargs)
        atexit.register(ray.shutdown)  # kept up for later sweeps of this process
    remote = ray.remote(num_cpus=1, max_retries=0)(fn)
    largest = max((n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")), default=0)

    def submit(item: Any) -> Any:
        need = min(memory_hint(item), int(largest))
        return (remote.options(memory=need) if need > 0 else remote).remote(item)

    pending = {submit(item): item for item in items}
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
    return reg.get(name)  # type: ignore[no-any-return]  # plugin registry values are untyped entry points
