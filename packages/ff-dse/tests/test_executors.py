"""The local executor survives a worker that dies: only that item fails."""

from __future__ import annotations

import os

from fuseflow.dse.executors import local_map


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
