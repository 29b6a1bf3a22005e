"""fuseflow.frontend: PyTorch capture (torch.export) into FuseFlow tensor programs.

``annotate(x, "CSR")`` marks a tensor's storage format inside a model;
``fuseflow.frontend.api.load_program`` captures a zoo model or a user file.
"""

from typing import Any

__all__ = ["annotate"]


def __getattr__(name: str) -> Any:
    # torch is imported on first use: every ``ff`` command loads this package as a plugin
    if name == "annotate":
        from fuseflow.frontend.annotation import annotate

        return annotate
    raise AttributeError(f"module 'fuseflow.frontend' has no attribute {name!r}")
