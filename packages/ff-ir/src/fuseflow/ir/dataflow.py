"""A dataflow program: the tensor program plus one graph per fused kernel, in order.

Kernels run in list order; a kernel's ``outputs`` are written by its level/value
writers in the format of their :class:`TensorDecl` and read back by later kernels'
scanners. Tensor values live in ``data`` (stored beside the IR file, not inside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fuseflow.ir.data import TensorData
from fuseflow.ir.graph import Graph
from fuseflow.ir.program import TensorProgram

#: (major, minor) of the IR file format. A newer major cannot be read.
IR_VERSION = (1, 0)


@dataclass
class Kernel:
    name: str
    graph: Graph
    assignments: tuple[str, ...] = ()  # expressions this kernel computes
    inputs: tuple[str, ...] = ()  # tensors it reads (inputs, params, earlier intermediates)
    outputs: tuple[str, ...] = ()  # tensors it writes


@dataclass
class Program:
    program: TensorProgram
    kernels: list[Kernel] = field(default_factory=list)
    data: dict[str, TensorData] = field(default_factory=dict)
    # outputs of eager PyTorch on the same inputs, recorded at capture (for --check)
    expected: dict[str, TensorData] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)  # compile options, provenance
    version: tuple[int, int] = IR_VERSION

    @property
    def name(self) -> str:
        return self.program.name
