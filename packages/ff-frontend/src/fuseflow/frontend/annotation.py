"""``annotate(x, "CSR")``: an identity custom op that records a storage format.

It survives ``torch.export`` as a ``fuseflow::annotate`` node; capture applies the
format to the tensor it marks (an input, a weight or an intermediate).
"""

from __future__ import annotations

import torch


@torch.library.custom_op("fuseflow::annotate", mutates_args=())
def _annotate(x: torch.Tensor, fmt: str) -> torch.Tensor:
    return x.clone()


@_annotate.register_fake
def _annotate_fake(x: torch.Tensor, fmt: str) -> torch.Tensor:
    return torch.empty_like(x)


def annotate(x: torch.Tensor, fmt: str) -> torch.Tensor:
    """Mark ``x`` to be stored in format ``fmt`` (a name such as CSR, BSR16, or a spec
    such as ``dc`` / ``cc@1,0``); returns ``x`` unchanged in eager mode."""
    return _annotate(x, fmt)  # type: ignore[no-any-return]  # torch's custom op is typed Any


ANNOTATE_OP = torch.ops.fuseflow.annotate.default
