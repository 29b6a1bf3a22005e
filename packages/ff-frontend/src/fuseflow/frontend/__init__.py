"""fuseflow.frontend: PyTorch capture (torch.export) into FuseFlow tensor programs.

``annotate(x, "CSR")`` marks a tensor's storage format inside a model;
``fuseflow.frontend.api.load_program`` captures a zoo model or a user file.
"""

from fuseflow.frontend.annotation import annotate

__all__ = ["annotate"]
