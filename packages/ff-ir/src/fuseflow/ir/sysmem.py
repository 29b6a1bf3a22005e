"""What memory this machine can still give: for failing fast before an allocation it cannot hold."""

from __future__ import annotations


def available_bytes() -> int | None:
    """Bytes the OS can still give a new allocation (Linux MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
