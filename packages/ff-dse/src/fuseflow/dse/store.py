"""Results on disk: SQLite in WAL mode, one row per configuration key.

Rows are written as each evaluation finishes, so a killed sweep loses only the
evaluations in flight; :meth:`Store.done_keys` tells a rerun what to skip. Configs
ruled out by pruning are kept in a separate table with their estimate.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from fuseflow.dse.config import Config
from fuseflow.dse.result import Estimate, Result, Status

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    model TEXT, dataset TEXT, fusion TEXT,
    status TEXT NOT NULL,
    cycles REAL, flops REAL, bytes_moved REAL, wall_time REAL,
    error TEXT,
    config TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pruned (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    est_flops REAL, est_bytes REAL,
    sweep TEXT,
    pruned_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------
    def put(self, r: Result) -> None:
        """Record one result (replacing an earlier row of the same key), committed at once."""
        c = r.config
        self._db.execute(
            "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (r.key, c.model, c.dataset, c.fusion, r.status.value, r.cycles, r.flops, r.bytes_moved,
             r.wall_time, r.error, c.canonical(), r.to_json(), time.time()),
        )
        self._db.execute("DELETE FROM pruned WHERE key = ?", (r.key,))

    def put_pruned(self, cfg: Config, est: Estimate, sweep: str = "") -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pruned VALUES (?,?,?,?,?,?)",
            (cfg.key(), cfg.canonical(), est.flops, est.bytes, sweep, time.time()),
        )

    def set_meta(self, name: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (name, json.dumps(value)))

    # -- reading ------------------------------------------------------------------
    def done_keys(self, include_failed: bool = False) -> set[str]:
        """Keys a rerun skips: finished results (failures too with ``include_failed``)."""
        q = "SELECT key FROM results" + ("" if include_failed else " WHERE status != 'failed'")
        return {k for (k,) in self._db.execute(q)}

    def get(self, key: str) -> Result | None:
        row = self._db.execute("SELECT result FROM results WHERE key = ?", (key,)).fetchone()
        return Result.from_dict(json.loads(row[0])) if row else None

    def results(self, status: Status | None = None) -> list[Result]:
        q, args = "SELECT result FROM results", ()  # type: tuple[str, tuple[str, ...]]
        if status is not None:
            q, args = q + " WHERE status = ?", (status.value,)
        rows = self._db.execute(q + " ORDER BY finished_at, key", args).fetchall()
        return [Result.from_dict(json.loads(r)) for (r,) in rows]

    def pruned(self) -> list[tuple[Config, Estimate]]:
        rows = self._db.execute("SELECT config, est_flops, est_bytes FROM pruned ORDER BY key").fetchall()
        return [(Config.from_dict(json.loads(c)), Estimate(f, b)) for c, f, b in rows]

    def meta(self, name: str, default: object = None) -> object:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def finished_at(self, key: str) -> float | None:
        row = self._db.execute("SELECT finished_at FROM results WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else None

    def count(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM results GROUP BY status").fetchall()
        out = {s.value: 0 for s in Status}
        out.update({s: n for s, n in rows})
        out["pruned"] = self._db.execute("SELECT COUNT(*) FROM pruned").fetchone()[0]
        return out
