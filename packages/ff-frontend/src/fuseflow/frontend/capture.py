"""Capture: an ``nn.Module`` + example inputs -> a tensor :class:`Program`.

Runs ``torch.export`` (non-strict) and walks the graph before decompositions; each
aten call becomes one op (see :mod:`fuseflow.frontend.ops`). Inputs and weights go to
``Program.data``; eager PyTorch outputs on the same inputs go to ``Program.expected``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fuseflow.frontend import (
    annotation,  # noqa: F401 - registers fuseflow::annotate
    ops,
)
from fuseflow.frontend.builder import Builder, CapturedProgram, MaskVal, OpEmitter, Sym, clean
from fuseflow.frontend.precision import float32_errors, float64_skip
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import FrontendError, FuseFlowError, is_out_of_memory, memory_guard, out_of_memory
from fuseflow.ir.formats import LevelFormat, TensorFormat, dense, named_format
from fuseflow.ir.plugins import lookup_format
from fuseflow.ir.program import Assignment, TensorRole, accesses

_TORCH_DIR = os.path.dirname(torch.__file__)
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def layout_format(t: torch.Tensor) -> TensorFormat:
    """Storage format of a torch tensor's layout."""
    n = t.dim()
    if t.layout == torch.sparse_coo:
        return TensorFormat((LevelFormat.COMPRESSED,) + (LevelFormat.SINGLETON,) * (n - 1)) if n > 1 \
            else TensorFormat((LevelFormat.COMPRESSED,))
    base = {torch.sparse_csr: "CSR", torch.sparse_csc: "CSC", torch.sparse_bsr: "CSR", torch.sparse_bsc: "CSC"}
    if t.layout in base:
        if n != 2:
            raise FrontendError(f"batched {t.layout} tensors are not supported")
        fmt = named_format(base[t.layout])
        assert fmt is not None
        if t.layout in (torch.sparse_bsr, torch.sparse_bsc):
            fmt = fmt.with_block(tuple(int(b) for b in t.values().shape[-2:]))
        return fmt
    return dense(n)


def tensor_data(t: torch.Tensor, fmt: TensorFormat) -> TensorData:
    """Values of a tensor: dense for dense formats, COO of stored entries otherwise."""
    t = t.detach()
    if t.dtype == torch.bool:
        t = t.float()
    if fmt.is_dense:
        return TensorData.from_dense(t.to_dense().float().numpy() if t.layout != torch.strided else t.float().numpy())
    if t.layout == torch.strided:
        arr = t.float().numpy()
        nz = np.nonzero(arr)
        return TensorData.from_coo(tuple(arr.shape), np.array(nz, dtype=np.int64), arr[nz])
    if t.layout in (torch.sparse_bsr, torch.sparse_bsc):
        t = t.to_dense()
        arr = t.float().numpy()
        nz = np.nonzero(arr)
        return TensorData.from_coo(tuple(arr.shape), np.array(nz, dtype=np.int64), arr[nz])
    coo = (t if t.layout == torch.sparse_coo else t.to_sparse_coo()).coalesce()
    return TensorData.from_coo(tuple(coo.shape), coo.indices().numpy(), coo.values().float().numpy())


def expected_data(ref: torch.Tensor, shape: tuple[int, ...], fmt: TensorFormat) -> TensorData:
    """PyTorch's output as the output tensor is stored: dense for a dense format, else its
    stored entries (COO, never densified when PyTorch's result is sparse already)."""
    if tuple(ref.shape) == tuple(shape) or ref.layout == torch.strided:
        return tensor_data(ref.reshape(shape) if ref.layout == torch.strided else ref, fmt)
    coo = (ref if ref.layout == torch.sparse_coo else ref.to_sparse_coo()).coalesce()
    flat = np.ravel_multi_index(tuple(coo.indices().numpy()), tuple(coo.shape))
    coords = np.array(np.unravel_index(flat, shape), dtype=np.int64).reshape(len(shape), -1)
    data = TensorData.from_coo(tuple(shape), coords, coo.values().float().numpy())
    return TensorData.from_dense(data.to_dense()) if fmt.is_dense else data


def source_of(node: torch.fx.Node) -> str:
    """``file.py:line`` of the innermost user frame (not inside torch) of a node."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    for path, line in reversed(frames):
        if not os.path.abspath(path).startswith(_TORCH_DIR):
            return f"{os.path.basename(path)}:{line}"
    return ""


class Translator:
    """Walks an exported graph and fills a :class:`Builder`."""

    def __init__(self, builder: Builder, module: torch.nn.Module) -> None:
        self.b = builder
        self.module = module
        self.env: dict[torch.fx.Node, Any] = {}
        self.node: torch.fx.Node | None = None
        self.producer: dict[str, torch.fx.Node] = {}
        self._layer_cache: dict[str, bool] = {}

    # context of the current node
    def scope(self) -> str:
        stack = (self.node.meta.get("nn_module_stack") or {}) if self.node is not None else {}
        paths = [v[0] for v in stack.values()]
        return paths[-1] if paths else ""

    def layer(self) -> str:
        stack = (self.node.meta.get("nn_module_stack") or {}) if self.node is not None else {}
        paths = [v[0] for v in stack.values() if v[0]]
        marked = [p for p in paths if self._is_layer(p)]
        if marked:
            return marked[-1]
        return paths[0].split(".")[0] if paths else ""

    def _is_layer(self, path: str) -> bool:
        if path not in self._layer_cache:
            try:
                mod = self.module.get_submodule(path)
            except AttributeError:
                mod = None
            self._layer_cache[path] = bool(getattr(mod, "fuseflow_layer", False))
        return self._layer_cache[path]

    def op_name(self) -> str:
        return str(self.node.target) if self.node is not None else "?"

    def error(self, msg: str) -> FrontendError:
        src = source_of(self.node) if self.node is not None else ""
        return FrontendError(f"{_packet(self.node.target) if self.node is not None else 'op'}"
                             f"{' at ' + src if src else ''}: {msg}")

    def op(self, kind: str, replace: Assignment | None = None) -> OpEmitter:
        if replace is not None:
            old = self.b.ops.pop()
            self.b.assignments.pop()
            del self.b.decls[replace.output.tensor]
            self.b._op_names.discard(old.name)
        src = source_of(self.node) if self.node is not None else ""
        return self.b.begin_op(kind, self.scope(), self.layer(), src)

    # helpers used by handlers
    def is_bias(self, a: Any, b: Any) -> bool:
        if not isinstance(b, Sym) or not isinstance(a, Sym):
            return False
        decl = self.b.decls[b.tensor]
        return decl.role is TensorRole.PARAM and decl.order == 1

    def apply_format(self, x: Sym, text: str) -> None:
        name = self.b.decls[x.tensor].name
        try:
            fmt = lookup_format(str(text))
        except FuseFlowError as e:
            raise self.error(f"bad format annotation {text!r} on tensor {name!r}: {e}") from None
        real = [d for d in x.dims if d is not None]
        if fmt.order != len(real):
            raise self.error(f"bad format annotation {text!r} on tensor {name!r}: the format has "
                             f"{fmt.order} levels but the tensor has {len(real)} modes")
        order = tuple(real[ax] for ax in fmt.mode_order)
        block = None
        if fmt.block is not None:
            blk = [1] * len(real)
            for ax, m in enumerate(real):
                blk[m] = fmt.block[ax]
            block = tuple(blk)
            shape = self.b.decls[x.tensor].shape
            for m, (n, bs) in enumerate(zip(shape, block, strict=False)):
                if n % bs:
                    raise self.error(f"bad format annotation {text!r} on tensor {name!r}: block {bs}"
                                     f" does not divide mode {m} of size {n}")
        self.b.set_format(x.tensor, TensorFormat(fmt.levels, order, block))
        self.b.annotated.add(x.tensor)

    def mask_format(self, m: Sym) -> TensorFormat:
        """The format of a mask tensor; an unannotated dense mask becomes compressed."""
        decl = self.b.decls[m.tensor]
        fmt = decl.format
        if fmt.is_dense and m.tensor not in self.b.annotated and decl.order >= 1:
            fmt = TensorFormat((LevelFormat.DENSE,) + (LevelFormat.COMPRESSED,) * (decl.order - 1)) \
                if decl.order > 1 else TensorFormat((LevelFormat.COMPRESSED,))
            self.b.set_format(m.tensor, fmt)
        real = [d for d in m.dims if d is not None]
        if real != sorted(real):
            raise self.error("a transposed mask is not supported")
        return fmt

    def fusable_matmul(self, x: Sym) -> Assignment | None:
        """The last assignment if it is a plain matmul producing ``x`` used only here."""
        if not self.b.ops or not self.b.assignments:
            return None
        last_op, last = self.b.ops[-1], self.b.assignments[-1]
        node = self.producer.get(x.tensor)
        if last_op.kind != "mm" or len(last_op.assignments) != 1 or last.output.tensor != x.tensor:
            return None
        if node is None or len(node.users) != 1 or x.dims != tuple(range(x.ndim)):
            return None
        return last

    def view(self, x: Sym, shape: tuple[int, ...]) -> Sym:
        """A reshape that changes the index space: a new tensor viewing ``x`` (a barrier)."""
        if any(d is None and s > 1 for d, s in zip(x.dims, x.shape, strict=False)):
            raise self.error("reshaping a broadcast (expanded) tensor is not supported")
        if not x.is_row_major():
            x = ops.copy(self, x)
        base = clean(self.scope()) + "_view" if self.scope() else "view"
        name = self.b.declare(base, shape, view_of=x.tensor, clash="")
        return Sym(name, tuple(range(len(shape))), tuple(shape))

    # the walk
    def run(self, node: torch.fx.Node) -> None:
        self.node = node
        key = _packet(node.target)
        handler = ops.HANDLERS.get(key)
        if handler is None:
            src = source_of(node)
            raise FrontendError(f"unsupported op {key}{' at ' + src if src else ''}"
                                f" (supported: {', '.join(ops.supported_ops())})")
        args = [self._arg(a) for a in node.args]
        kwargs = {k: self._arg(v) for k, v in node.kwargs.items()}
        try:
            val = handler(self, *args, **kwargs)
        except TypeError as e:
            raise self.error(f"unexpected arguments ({e})") from None
        self.env[node] = val
        if isinstance(val, Sym):
            self.producer.setdefault(val.tensor, node)

    def _arg(self, a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(x) for x in a)
        return a


def _packet(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._opname}"
    return getattr(target, "__name__", str(target))


def _user_frame(e: BaseException) -> str:
    """``file:line`` of the innermost frame of ``e`` in the user's model (not torch, not FuseFlow)."""
    import traceback

    skip = ("/torch/", "/fuseflow/", "/site-packages/", "<frozen", "/lib/python")
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not any(s in f.filename for s in skip)]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


class _quiet_torch_logs:
    """Silence torch's own error log lines while exporting: the failure is reported once, by us."""

    NAMES = ("torch._subclasses.fake_tensor", "torch.export", "torch._export", "torch._dynamo")

    def __enter__(self) -> None:
        import logging

        self.saved = [(n, logging.getLogger(n).level) for n in self.NAMES]
        for n in self.NAMES:
            logging.getLogger(n).setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        import logging

        for n, level in self.saved:
            logging.getLogger(n).setLevel(level)


def capture(module: torch.nn.Module, example_inputs: tuple[Any, ...], name: str = "model",
            fusion: str = "partial", index_names: dict[str, tuple[str, ...]] | None = None) -> Program:
    """Capture ``module(*example_inputs)`` as a tensor-level :class:`Program` (no kernels)."""
    from fuseflow.frontend.fusion import apply_fusion

    module = module.eval()
    inputs = tuple(example_inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise FrontendError(f"example input {i} is a {type(x).__name__}; only tensors are supported")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with _quiet_torch_logs():
                ep = torch.export.export(module, inputs, strict=False)
        except FuseFlowError:
            raise
        except Exception as e:  # noqa: BLE001 - export failures become frontend errors
            if is_out_of_memory(e):
                raise out_of_memory(f"exporting {name} with torch.export", e) from None
            where = _user_frame(e)
            raise FrontendError(f"torch.export failed on {name}{' at ' + where if where else ''}: "
                                f"{type(e).__name__}: {str(e).splitlines()[0]}") from None
        with torch.no_grad(), memory_guard(f"running {name} in eager PyTorch (for its expected outputs)"):
            eager = module(*inputs)
    eager_outs = list(eager) if isinstance(eager, (list, tuple)) else [eager]
    # before the program's data is laid out, while the least else is held in memory
    f32_skipped = float64_skip(inputs, eager_outs, module)
    f32_errors = [None] * len(eager_outs) if f32_skipped else float32_errors(module, inputs, eager_outs)
    b = Builder(name)
    tr = Translator(b, module)
    values = _placeholders(ep, inputs, b, tr, index_names or {})
    out_node = None
    for node in ep.graph.nodes:
        if node.op == "call_function":
            tr.run(node)
        elif node.op == "output":
            out_node = node
    assert out_node is not None
    outs = out_node.args[0]
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    out_names: list[str] = []
    expected: dict[str, TensorData] = {}
    for node, ref in zip(outs, eager_outs, strict=False):
        sym = tr.env.get(node) if isinstance(node, torch.fx.Node) else None
        if not isinstance(sym, Sym):
            raise FrontendError(f"output {node} of {name} is not a tensor")
        decl = b.decls[sym.tensor]
        if decl.role is not TensorRole.INTERMEDIATE or decl.view_of or not sym.is_row_major() \
                or any(d is None and s > 1 for d, s in zip(sym.dims, sym.shape, strict=False)) or sym.tensor in out_names:
            tr.node = node
            sym = ops.copy(tr, sym)
        b.set_role(sym.tensor, TensorRole.OUTPUT)
        out_names.append(sym.tensor)
        with memory_guard(f"storing the expected output {sym.tensor} {list(b.decls[sym.tensor].shape)}"):
            expected[sym.tensor] = expected_data(ref.detach(), b.decls[sym.tensor].shape, b.decls[sym.tensor].format)
    program = b.program(tuple(out_names))
    _drop_unused(program, values)
    data: dict[str, TensorData] = {}
    for n in program.tensors:
        if n in values:
            with memory_guard(f"laying out input {n} {list(program.tensors[n].shape)}"):
                data[n] = tensor_data(values[n], program.tensors[n].format)
    apply_fusion(program, fusion)
    meta = {"frontend": "torch", "model": name, "fusion": fusion}
    if f32_skipped:
        meta["float32_error"] = f32_skipped
    for out, err in zip(out_names, f32_errors, strict=False):
        if err is not None:
            meta[f"float32_error.{out}"] = f"{err:.3g}"
    return Program(program, data=data, expected=expected, meta=meta)


def _placeholders(ep: Any, inputs: tuple[Any, ...], b: Builder, tr: Translator,
                  index_names: dict[str, tuple[str, ...]]) -> dict[str, torch.Tensor]:
    """Declare inputs and weights; returns tensor name -> torch value."""
    from torch.export.graph_signature import InputKind

    values: dict[str, torch.Tensor] = {}
    user = iter(inputs)
    nodes = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    for spec in ep.graph_signature.input_specs:
        node = nodes[spec.arg.name]
        if spec.kind is InputKind.USER_INPUT:
            val, base, role = next(user), spec.arg.name, TensorRole.INPUT
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            val = ep.state_dict[spec.target] if spec.target in ep.state_dict else ep.constants[spec.target]
            base, role = spec.target, TensorRole.PARAM
        elif spec.kind is InputKind.CONSTANT_TENSOR:
            val, base, role = ep.constants[spec.target], spec.target, TensorRole.PARAM
        else:
            raise FrontendError(f"unsupported input kind {spec.kind} ({spec.arg.name})")
        if not isinstance(val, torch.Tensor):
            raise FrontendError(f"input {spec.arg.name} is not a tensor")
        if val.dtype not in (torch.float32, torch.bool):
            raise FrontendError(f"input {spec.arg.name} has dtype {val.dtype}; only float32 (and bool masks)"
                                " are supported")
        fmt = layout_format(val)
        shape = tuple(val.shape)
        name = b.declare(base, shape, fmt, role, index_names=index_names.get(base, ()))
        values[name] = val
        sym = Sym(name, tuple(range(len(shape))), shape)
        tr.env[node] = MaskVal(sym, keep=True) if val.dtype == torch.bool else sym
    return values


def _drop_unused(program: CapturedProgram, values: dict[str, torch.Tensor]) -> None:
    used = set(program.outputs)
    for a in program.assignments:
        used.update(acc.tensor for acc in accesses(a.value))
        used.add(a.output.tensor)
    changed = True
    while changed:  # a used view keeps its source
        changed = False
        for n, d in program.tensors.items():
            if n in used and d.view_of and d.view_of not in used:
                used.add(d.view_of)
                changed = True
    for n in list(program.tensors):
        if n not in used:
            del program.tensors[n]
            values.pop(n, None)
