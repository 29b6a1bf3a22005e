"""Kernel figures shared by every evaluation of a study, across processes.

The simulator reuses the figures of a kernel equal to one already simulated (same graph up to
tensor names, same declarations and stored input structure, same hardware and engine:
``fuseflow.sim.reuse``). Within one simulation that covers GPT-3's 12 decoders; shared here
it also covers the dense kernels that GPT-3 has at blocks 16, 32 and 64 and in several fusions
(the block changes only the attention mask). Figures are pickled one file per kernel key under
a directory named by a digest of the simulator's sources, so a changed simulator never reads
figures an older one wrote.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not on POSIX: processes may simulate the same kernel at once (same figures)
    fcntl = None  # type: ignore[assignment]

MAX_FILE = 64 << 20  # figures pickled larger than this (big sparse output structures) stay in memory


def simulator_digest() -> str:
    """A digest of the simulator's source files (its figures depend on nothing else)."""
    import fuseflow.sim

    root = Path(fuseflow.sim.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


class SharedFigures(MutableMapping[str, Any]):
    """Figures by kernel key in ``directory``. A process that misses a key holds the key's
    lock until it stores the figures, asks for another key or calls :meth:`release`; another
    process asking for that key meanwhile waits, then reads the figures instead of simulating."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.memory: dict[str, Any] = {}
        self.held: tuple[str, int] | None = None  # key and descriptor of the lock this process holds

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.pickle"

    def _load(self, key: str) -> Any:
        try:
            return pickle.loads(self._file(key).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            return None

    def __getitem__(self, key: str) -> Any:
        if key in self.memory:
            return self.memory[key]
        self.release()
        found = self._load(key)
        if found is None and fcntl is not None:
            fd = os.open(self.directory / f"{key}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another process simulates this kernel
            found = self._load(key)
            if found is None:
                self.held = (key, fd)
            else:
                os.close(fd)
        if found is None:
            raise KeyError(key)
        self.memory[key] = found
        return found

    def __contains__(self, key: object) -> bool:
        return key in self.memory or (isinstance(key, str) and self._file(key).exists())

    def __setitem__(self, key: str, figures: Any) -> None:
        self.memory[key] = figures
        blob = pickle.dumps(figures, protocol=pickle.HIGHEST_PROTOCOL)
        if len(blob) <= MAX_FILE:
            tmp = self._file(key).with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, self._file(key))  # readers see the whole file or none
        if self.held is not None and self.held[0] == key:
            self.release()

    def __delitem__(self, key: str) -> None:
        del self.memory[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.memory)

    def __len__(self) -> int:
        return len(self.memory)

    def release(self) -> None:
        """Let other processes simulate the kernel this one missed (it failed or was not kept)."""
        if self.held is not None:
            os.close(self.held[1])  # closing the descriptor drops its lock
            self.held = None


@dataclass(frozen=True)
class WithSharedFigures:
    """An evaluator whose simulations share kernel figures through ``directory`` (picklable:
    it goes to pool and Ray workers)."""

    evaluator: Callable[[Any], Any]
    directory: str

    def __call__(self, cfg: Any) -> Any:
        from fuseflow.sim.reuse import SHARED

        figures = SharedFigures(Path(self.directory))
        token = SHARED.set(figures)
        try:
            return self.evaluator(cfg)
        finally:
            SHARED.reset(token)
            figures.release()


def sharing(evaluator: Callable[[Any], Any], out: Path) -> WithSharedFigures:
    """``evaluator`` sharing kernel figures under ``out/kernel-figures/<simulator digest>``."""
    return WithSharedFigures(evaluator, str(out / "kernel-figures" / simulator_digest()))
