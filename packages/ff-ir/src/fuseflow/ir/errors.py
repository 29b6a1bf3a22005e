"""The one exception hierarchy of FuseFlow.

Every error a user can provoke derives from :class:`FuseFlowError`; the CLI maps
each class to a one-line message and an exit code (``--debug`` shows the traceback).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager


class FuseFlowError(Exception):
    """Base of every error FuseFlow reports to users."""

    exit_code = 1


class IRFormatError(FuseFlowError):
    """An IR file cannot be read: truncated, random bytes, wrong kind, bad syntax."""

    exit_code = 2


class IRVersionError(IRFormatError):
    """An IR file was written by a newer major version of the format."""


class UsageError(FuseFlowError):
    """A command-line option or configuration value is out of range (names the option or field)."""

    exit_code = 2


class VerificationError(FuseFlowError):
    """A dataflow graph or tensor program is ill-formed (names the node and port)."""

    exit_code = 3

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class PluginError(FuseFlowError):
    """A plugin could not be registered (e.g. two plugins claim the same name)."""

    exit_code = 4


class UnknownNameError(FuseFlowError):
    """A registry lookup failed (unknown engine, format, model, data set, ...)."""

    exit_code = 2


class FrontendError(FuseFlowError):
    """Capture of a model failed (unsupported op, malformed annotation, ...)."""

    exit_code = 5


class CompileError(FuseFlowError):
    """Fusion or lowering failed (invalid order, unsupported pattern, ...)."""

    exit_code = 6


class KnobError(CompileError):
    """A design-space knob (``--par``, ``--block``) that does not apply to this model or program;
    the DSE records such configurations as invalid instead of evaluating them."""


class SimulationError(FuseFlowError):
    """The simulator failed (deadlock, malformed stream, missing data)."""

    exit_code = 7


class CheckError(FuseFlowError):
    """A simulated result differs from the PyTorch reference."""

    exit_code = 8


class DataError(FuseFlowError):
    """A data set or tensor data file cannot be loaded."""

    exit_code = 2


class OutOfMemoryError(SimulationError):
    """A run (the engine, ``--check``, loading or capturing data) needs more memory than the
    machine or its limit gives; the message names what needed it and, when known, how much."""


def needed_bytes(exc: BaseException) -> int | None:
    """The size of the allocation that failed, when the error says it: numpy's MemoryError
    carries it, torch's allocator writes it in its message."""
    size = getattr(exc, "_total_size", None)  # numpy's _ArrayMemoryError
    if isinstance(size, int):
        return size
    m = re.search(r"allocate (?:memory: you tried to allocate )?(\d+) bytes", str(exc))
    return int(m.group(1)) if m else None


def is_out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or torch's CPU allocator failing (a RuntimeError)."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def out_of_memory(what: str, exc: BaseException | None = None, nbytes: int | None = None) -> OutOfMemoryError:
    """The clear error for an allocation that failed while doing ``what``."""
    n = nbytes if nbytes is not None else (needed_bytes(exc) if exc is not None else None)
    need = (f": it needs {n:,} bytes" + (f" ({n / 2**30:.2f} GiB)" if n >= 1 << 26 else "")) if n else ""
    return OutOfMemoryError(f"out of memory {what}{need}; the machine (or its memory limit) cannot give it. "
                            "Try a smaller data set, sparse storage of a mostly-zero tensor or less fusion")


@contextmanager
def memory_guard(what: str) -> Iterator[None]:
    """Turn an allocation failure inside the block into :class:`OutOfMemoryError` naming ``what``."""
    try:
        yield
    except FuseFlowError:
        raise
    except (MemoryError, RuntimeError) as e:
        if not is_out_of_memory(e):
            raise
        raise out_of_memory(what, e) from None
