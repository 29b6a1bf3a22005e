"""Seeded fuzzing of whole commands: mutated binary/text/tortilla programs fed to `ff ir validate`,
`ff show` and `ff sim`. None may end in an internal error or hang, and `ff sim` never accepts a
file that `ff ir validate` rejects (it verifies first)."""

from __future__ import annotations

import contextlib
import io as stdio
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuseflow.ir import examples, io, tortilla
from fuseflow.ir.cli import main

CASES_PER_FORM = 200  # x 3 forms = 600 files, each through three commands
INTERNAL_ERROR = 70


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not b:
            break
        i = rng.randrange(len(b))
        r = rng.random()
        if r < 0.5:
            b[i] = rng.randrange(256)
        elif r < 0.75:
            del b[i: i + rng.randint(1, 6)]
        else:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return bytes(b)


def _text_mutation(rng: random.Random, text: str) -> bytes:
    """Line-level damage that keeps most files parseable: swapped numbers, duplicated lines."""
    lines = text.splitlines()
    i = rng.randrange(1, len(lines))
    r = rng.random()
    if r < 0.4:
        words = lines[i].split(" ")
        j = rng.randrange(len(words))
        words[j] = "".join(str(rng.randrange(40)) if c.isdigit() else c for c in words[j])
        lines[i] = " ".join(words)
    elif r < 0.7:
        lines.insert(i, lines[rng.randrange(1, len(lines))])
    else:
        del lines[i]
    return ("\n".join(lines) + "\n").encode()


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise _Hang

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run(args: list[str]) -> int:
    out, err = stdio.StringIO(), stdio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _deadline(20):
        try:
            main(args)
        except SystemExit as e:
            return int(e.code or 0)
    return 0


@pytest.mark.parametrize("form", ["binary", "text", "tortilla"])
def test_mutated_programs_through_validate_show_and_sim(form: str, tmp_path: Path) -> None:
    seeds = [examples.spmv(), examples.softmax(4, 4), examples.elementwise()]
    rng = random.Random(f"sim-fuzz-{form}")
    ext = {"binary": ".ffir", "text": ".fftxt", "tortilla": ".tortilla"}[form]
    counts = {"validated": 0, "rejected": 0}
    for n in range(CASES_PER_FORM):
        prog = seeds[n % len(seeds)]
        if form == "binary":
            data = _mutate(rng, io.to_bytes(prog))
        elif form == "text":
            data = _text_mutation(rng, io.to_text(prog))
        else:
            data = _mutate(rng, tortilla.program_to_tortilla(prog))
        path = tmp_path / f"case{n}{ext}"
        path.write_bytes(data)
        valid = _run(["ir", "validate", str(path)])
        shown = _run(["show", str(path)])
        sim = _run(["sim", str(path), "--hw", "no-hbm", "--random-inputs", "1"])
        assert INTERNAL_ERROR not in (valid, shown, sim), (n, valid, shown, sim, data[:200])
        if valid != 0:
            counts["rejected"] += 1
            assert sim != 0, f"case {n}: ff sim accepted a file ff ir validate rejects"
        else:
            counts["validated"] += 1
    assert counts["rejected"] > 0
