"""Chrome trace-event JSON (Perfetto, chrome://tracing): one track per primitive, one
complete event per busy interval; one simulated cycle is shown as 1 us."""

from __future__ import annotations

import json
from pathlib import Path

from fuseflow.sim.result import SimResult


def trace_events(result: SimResult) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    offset = 0
    for pid, k in enumerate(result.kernels):
        events.append({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": f"kernel {k.name}"}})
        busy = result.trace.get(k.name, {})
        for tid, (prim, intervals) in enumerate(sorted(busy.items())):
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": prim}})
            for start, end in intervals:
                events.append({"name": prim.split(" ")[0], "ph": "X", "pid": pid, "tid": tid,
                               "ts": offset + start, "dur": end - start})
        offset += k.cycles
    return events


def write_trace(result: SimResult, path: str | Path) -> None:
    data = {"traceEvents": trace_events(result), "displayTimeUnit": "ns",
            "otherData": {"cycles": result.cycles, "engine": result.engine, "hw": result.hw}}
    Path(path).write_text(json.dumps(data))
