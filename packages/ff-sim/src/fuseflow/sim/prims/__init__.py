"""The primitive process of each node kind."""

from __future__ import annotations

from fuseflow.ir.graph import NodeKind
from fuseflow.sim.prims.compute import Alu, Reduce, Spacc1, Spacc2
from fuseflow.sim.prims.flow import Broadcast, CrdDrop, CrdHold, Fork, Join, Repeat, RepeatSig
from fuseflow.sim.prims.join import Intersect, Union
from fuseflow.sim.prims.scan import LevelScan, Locate, Root, ValArray
from fuseflow.sim.prims.write import LevelWrite, ValWrite
from fuseflow.sim.process import Proc

PRIMITIVES: dict[NodeKind, type[Proc]] = {
    NodeKind.ROOT: Root,
    NodeKind.LEVEL_SCAN: LevelScan,
    NodeKind.LEVEL_WRITE: LevelWrite,
    NodeKind.VAL_WRITE: ValWrite,
    NodeKind.VAL_ARRAY: ValArray,
    NodeKind.REPEAT_SIG: RepeatSig,
    NodeKind.REPEAT: Repeat,
    NodeKind.INTERSECT: Intersect,
    NodeKind.UNION: Union,
    NodeKind.ALU: Alu,
    NodeKind.REDUCE: Reduce,
    NodeKind.SPACC1: Spacc1,
    NodeKind.SPACC2: Spacc2,
    NodeKind.CRD_DROP: CrdDrop,
    NodeKind.CRD_HOLD: CrdHold,
    NodeKind.LOCATE: Locate,
    NodeKind.BROADCAST: Broadcast,
    NodeKind.FORK: Fork,
    NodeKind.JOIN: Join,
}

assert set(PRIMITIVES) == set(NodeKind), "every node kind needs a primitive"
