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

    def only_kernel(self, name: str) -> Program:
        """This program cut to one kernel (for a one-graph form such as tortilla)."""
        from dataclasses import replace

        from fuseflow.ir.errors import UnknownNameError

        chosen = [k for k in self.kernels if k.name == name]
        if not chosen:
            raise UnknownNameError(f"program {self.name!r} has no kernel {name!r} "
                                   f"(kernels: {', '.join(k.name for k in self.kernels) or 'none'})")
        from fuseflow.ir.program import TensorRole, accesses

        k, tp = chosen[0], self.program
        mine = set(k.assignments)
        # what other kernels compute becomes an input of the cut program (give its data or use
        # random inputs); the cut program computes, and is checked on, this kernel's outputs
        elsewhere = {a.output.tensor for a in tp.assignments if a.name not in mine}
        used = set(k.inputs) | set(k.outputs)
        for a in tp.assignments:
            if a.name in mine:
                used |= {a.output.tensor, *(x.tensor for x in accesses(a.value))}
        for name in list(used):  # and the tensors the used views read
            while name in tp.tensors and tp.tensors[name].view_of:
                name = tp.tensors[name].view_of or ""
                used.add(name)
        program = replace(
            tp, tensors={n: replace(d, role=TensorRole.INPUT) if n in elsewhere else d
                         for n, d in tp.tensors.items() if n in used},
            assignments=[a for a in tp.assignments if a.name in mine],
            groups=[g for g in tp.groups if set(g.assignments) <= mine],
            outputs=tuple(t for t in k.outputs if t in tp.tensors))
        return replace(self, program=program, kernels=chosen,
                       data={t: v for t, v in self.data.items() if t in program.tensors},
                       expected={t: v for t, v in self.expected.items() if t in k.outputs})
