"""The primitive process of each node kind."""

from __future__ import annotations

from fuseflow.ir.graph import NodeKind
from fuseflow.sim.prims.compute import Alu, Reduce, Spacc1, Spacc2
from fuseflow.sim.prims.flow import Broadcast, CrdDrop, CrdHold, Fork, Join, Repeat, RepeatSig
from fuseflow.sim.prims.join import Intersect, Union
from fuseflow.sim.prims.scan import LevelScan, Locate, Root, ValArray
from fuseflow.sim.prims.write import LevelWrite, ValWrite
from fuseflow.sim.process import Proc

_CLASSES: dict[str, type[Proc]] = {c.__name__: c for c in (
    Root, LevelScan, LevelWrite, ValWrite, ValArray, RepeatSig, Repeat, Intersect, Union, Alu, Reduce,
    Spacc1, Spacc2, CrdDrop, CrdHold, Locate, Broadcast, Fork, Join)}

#: each node kind's process, the class named as the kind (NodeKind.LEVEL_SCAN: LevelScan)
PRIMITIVES: dict[NodeKind, type[Proc]] = {k: _CLASSES[k.name.title().replace("_", "")] for k in NodeKind}
