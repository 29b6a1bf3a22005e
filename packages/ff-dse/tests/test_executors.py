"""The local executor survives a worker that dies (only that item fails) and keeps the
memory hints of the items running at once within the memory available."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from fuseflow.dse.executors import local_map, memory_hint


def double_or_die(item: int) -> int:
    if item == 3:
        os._exit(1)  # like the kernel's OOM killer: no exception, the process is gone
    return 2 * item


def test_a_dying_worker_fails_only_its_item() -> None:
    outcomes = {o.item: o for o in local_map(double_or_die, range(8), workers=2)}
    assert sorted(outcomes) == list(range(8))
    assert "worker process died" in outcomes[3].error
    for i in set(range(8)) - {3}:
        assert outcomes[i].error == "" and outcomes[i].value == 2 * i


@dataclass(frozen=True)
class Job:
    name: str
    hint: int  # bytes

    def memory_hint(self) -> int:
        return self.hint


def spans(job: Job) -> tuple[float, float]:
    start = time.time()
    time.sleep(1.5)
    return start, time.time()


def test_items_whose_memory_hints_do_not_fit_together_never_overlap() -> None:
    from fuseflow.ir.sysmem import available_bytes

    free = available_bytes()
    assert free is not None
    big = free // 2 + (1 << 30)  # two of them do not fit; one beside a small one does
    jobs = [Job("big1", big), Job("big2", big), Job("small1", 1), Job("small2", 1)]
    done = {o.item.name: o.value for o in local_map(spans, jobs, workers=2)}
    assert sorted(done) == ["big1", "big2", "small1", "small2"]

    def overlap(a: str, b: str) -> bool:
        return done[a][0] < done[b][1] and done[b][0] < done[a][1]

    assert not overlap("big1", "big2")
    assert overlap("big1", "small1")  # the small items went ahead of big2, beside big1
    assert memory_hint(Job("x", 5)) == 5 and memory_hint(3) == 0
