from __future__ import annotations

import sys
from pathlib import Path

# sim_testlib lives beside the tests (pytest runs with --import-mode=importlib)
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
