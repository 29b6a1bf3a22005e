from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
