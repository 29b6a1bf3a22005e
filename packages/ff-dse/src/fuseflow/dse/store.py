"""Results on disk: SQLite in WAL mode, one row per configuration key.

Rows are written as each evaluation finishes, so a killed sweep loses only the
evaluations in flight; :meth:`Store.done_keys` tells a rerun what to skip. Configs
ruled out by pruning are kept in a separate table with their estimate.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from fuseflow.dse.config import Config
from fuseflow.dse.result import Estimate, Result, Status
from fuseflow.ir.errors import DataError

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
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, claimed_at REAL NOT NULL);
"""

#: a claim by a process on another host counts for this long (a live one on this host, always)
CLAIM_TTL = 24 * 3600.0


def _started(pid: int) -> str:
    """A process's start time (Linux: clock ticks since boot), to tell it from a later process
    that was given the same pid; empty where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def _alive(owner: str) -> bool:
    """Whether the sweep that made a claim may still be running."""
    import socket

    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _started(int(pid)) == started  # the same pid, another process: dead


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.owner = _owner()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise DataError(f"{self.path} is not a FuseFlow results store (SQLite): {e}") from None

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
        self._db.execute("DELETE FROM claims WHERE key = ?", (r.key,))

    # -- sharing work between sweeps on one store ----------------------------------
    def claim(self, key: str) -> bool:
        """Take ``key`` for this process unless a live sweep holds it or its result is stored."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute("SELECT 1 FROM results WHERE key = ? AND status != 'failed'", (key,)).fetchone():
                return False
            row = self._db.execute("SELECT owner, claimed_at FROM claims WHERE key = ?", (key,)).fetchone()
            if row and row[0] != self.owner and _alive(row[0]) and now - row[1] < CLAIM_TTL:
                return False
            self._db.execute("INSERT OR REPLACE INTO claims VALUES (?,?,?)", (key, self.owner, now))
            return True
        finally:
            self._db.execute("COMMIT")

    def claimed_elsewhere(self, keys: set[str]) -> set[str]:
        """Those of ``keys`` held by another live sweep."""
        rows = self._db.execute("SELECT key, owner, claimed_at FROM claims").fetchall()
        now = time.time()
        return {k for k, o, t in rows if k in keys and o != self.owner and _alive(o) and now - t < CLAIM_TTL}

    def release(self, keys: set[str]) -> None:
        """Drop this process's claims on ``keys`` (those it did not finish)."""
        for k in keys:
            self._db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (k, self.owner))

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

    def invalid_keys(self) -> set[str]:
        """Configurations recorded as invalid (knobs that do not apply)."""
        return {k for (k,) in self._db.execute("SELECT key FROM results WHERE status = 'invalid'")}

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
