"""The readable text form of a program (``.fftxt``): printer and parser.

Line oriented and deterministic; the grammar is in docs/ir-text-form.md. Printing a
parsed file gives the same text back; parse errors name the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from fuseflow.ir.dataflow import IR_VERSION, Kernel, Program
from fuseflow.ir.errors import FuseFlowError, IRFormatError, IRVersionError
from fuseflow.ir.formats import DType, LevelFormat, TensorFormat
from fuseflow.ir.graph import Attrs, Graph, Node, NodeKind, PortRef, Stream, StreamKind
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Const,
    Expr,
    FusionGroup,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
)

MAGIC = "fuseflow-ir"
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
PORT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = r'"(?:[^"\\]|\\.)*"'
_WORD = re.compile(rf'\s*((?:{_STRING}|[^\s"])+)')
_LIST_ITEM = re.compile(rf'(?:{_STRING}|[^,"])+')
_ENDPOINT = re.compile(rf"(-?\d+)\.({PORT_RE.pattern}|{_STRING})")
_TENSOR_HEAD = re.compile(rf"({NAME_RE.pattern}|{_STRING})\[([^\]]*)\]")
_EXPR_TOKEN = re.compile(
    rf"\s*(?:(?P<str>{_STRING})"
    r"|(?P<num>[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|(?:inf|nan)(?![A-Za-z0-9_.])))"
    rf"|(?P<name>{NAME_RE.pattern})|(?P<punct>[\[\](),:=]))"
)
UNARY_OPS = {op.value: op for op in UnaryOp}
BINARY_OPS = {op.value: op for op in BinaryOp}
REDUCE_OPS = {op.value: op for op in ReduceOp}
MAX_EXPR_DEPTH = 200


# ---- printing ---------------------------------------------------------------------

def name(text: str) -> str:
    """A name as written: bare when it is an identifier (dots allowed), else a JSON string."""
    return text if NAME_RE.fullmatch(text) else json.dumps(text)


def names(items: tuple[str, ...] | list[str]) -> str:
    return ",".join(name(i) for i in items)


def number(x: float) -> str:
    return repr(float(x))


def expr_text(e: Expr) -> str:
    """Like :func:`program.format_expr`, quoting names that are not identifiers."""
    if isinstance(e, Access):
        return f"{name(e.tensor)}[{names(e.indices)}]"
    if isinstance(e, Const):
        return number(e.value)
    if isinstance(e, Unary):
        extra = f", {number(e.scalar)}" if e.scalar is not None else ""
        return f"{e.op.value}({expr_text(e.operand)}{extra})"
    if isinstance(e, Binary):
        return f"{e.op.value}({expr_text(e.lhs)}, {expr_text(e.rhs)})"
    if isinstance(e, Reduce):
        return f"{e.op.value}[{names(e.indices)}]({expr_text(e.body)})"
    raise IRFormatError(f"not an expression: {e!r}")


def op_text(kind: NodeKind, op: UnaryOp | BinaryOp | ReduceOp) -> str:
    """Plain op name when it reads back unambiguously for this kind, else ``family.name``."""
    if _resolve_op(kind, op.value) is op:
        return op.value
    family = {UnaryOp: "unary", BinaryOp: "binary", ReduceOp: "reduce"}[type(op)]
    return f"{family}.{op.value}"


def _attr_value(kind: NodeKind, field_name: str, v: object) -> str:
    if field_name in ("index", "tensor"):
        return name(str(v))
    if field_name == "format":
        assert isinstance(v, LevelFormat)
        return v.value
    if field_name == "op":
        assert isinstance(v, (UnaryOp, BinaryOp, ReduceOp))
        return op_text(kind, v)
    if field_name == "scalar":
        return number(v)  # type: ignore[arg-type]  # a float attribute
    if field_name == "block":
        return "x".join(str(b) for b in v)  # type: ignore[attr-defined]  # a block attribute is a tuple of ints
    if field_name == "label":
        return json.dumps(v)
    return str(int(v))  # type: ignore[call-overload]  # an int attribute


def node_text(n: Node) -> str:
    bits = ["node", str(n.id), n.kind.value]
    for f in fields(Attrs):
        v = getattr(n.attrs, f.name)
        if v is not None:
            bits.append(f"{f.name}={_attr_value(n.kind, f.name, v)}")
    return " ".join(bits)


def _port(p: PortRef) -> str:
    port = p.port if PORT_RE.fullmatch(p.port) else json.dumps(p.port)
    return f"{p.node}.{port}"


def stream_text(s: Stream) -> str:
    out = f"stream {s.id} {s.kind.value} {_port(s.src)} -> {_port(s.dst)}"
    return out + (f" name={name(s.name)}" if s.name else "")


def tensor_text(t: TensorDecl) -> str:
    spec = t.format.spec() or "-"
    out = f"tensor {name(t.name)}[{','.join(map(str, t.shape))}] {t.dtype.value} {spec} {t.role.value}"
    if t.index_names:
        out += f" names={names(t.index_names)}"
    if t.view_of is not None:
        out += f" view_of={name(t.view_of)}"
    return out


def to_text(p: Program) -> str:
    """The text form of a program (tensor data is not included)."""
    tp = p.program
    lines = [f"{MAGIC} {IR_VERSION[0]}.{IR_VERSION[1]}", f"program {name(tp.name)}"]
    lines += [f"meta {name(k)} = {json.dumps(v)}" for k, v in sorted(p.meta.items())]
    lines += [tensor_text(t) for t in tp.tensors.values()]
    for a in tp.assignments:
        line = f"expr {name(a.name)}: {expr_text(a.output)} = {expr_text(a.value)}"
        lines.append(line + (f" source={json.dumps(a.source)}" if a.source else ""))
    lines += [f"group {name(g.name)} = {names(g.assignments)}".rstrip() for g in tp.groups]
    if tp.outputs:
        lines.append(f"outputs {names(tp.outputs)}")
    for k in p.kernels:
        head = f"kernel {name(k.name)}"
        if k.graph.name != k.name:
            head += f" graph {name(k.graph.name)}"
        for word, items in (("computes", k.assignments), ("reads", k.inputs), ("writes", k.outputs)):
            if items:
                head += f" {word} {names(items)}"
        lines.append(head)
        lines += ["  " + node_text(n) for n in sorted(k.graph.nodes.values(), key=lambda n: n.id)]
        lines += ["  " + stream_text(s) for s in k.graph.streams]
        lines.append("end")
    return "\n".join(lines) + "\n"


# ---- parsing ----------------------------------------------------------------------

class _LineError(Exception):
    """A problem on the current line (turned into IRFormatError with the line number)."""


def _resolve_op(kind: NodeKind, text: str) -> UnaryOp | BinaryOp | ReduceOp:
    if "." in text:
        family, _, value = text.partition(".")
        tables: dict[str, dict[str, UnaryOp | BinaryOp | ReduceOp]] = {
            "unary": dict(UNARY_OPS), "binary": dict(BINARY_OPS), "reduce": dict(REDUCE_OPS)}
        table = tables.get(family, {})
        if value in table:
            return table[value]
    elif kind is NodeKind.REDUCE and text in REDUCE_OPS:
        return REDUCE_OPS[text]
    else:
        for ops in (UNARY_OPS, BINARY_OPS, REDUCE_OPS):
            if text in ops:
                return ops[text]
    raise _LineError(f"unknown op {text!r}")


def _words(line: str) -> list[str]:
    out, pos = [], 0
    while pos < len(line.rstrip()):
        m = _WORD.match(line, pos)
        if m is None:
            raise _LineError("unterminated string")
        out.append(m.group(1))
        pos = m.end()
    return out


def _parse_name(text: str) -> str:
    if text.startswith('"'):
        try:
            v = json.loads(text)
        except ValueError:
            raise _LineError(f"bad string {text}") from None
        if not isinstance(v, str):
            raise _LineError(f"bad string {text}")
        return v
    if not NAME_RE.fullmatch(text):
        raise _LineError(f"bad name {text!r}")
    return text


def _parse_names(text: str) -> tuple[str, ...]:
    if not text:
        return ()
    items = _LIST_ITEM.findall(text)
    if ",".join(items) != text:
        raise _LineError(f"bad name list {text!r}")
    return tuple(_parse_name(i.strip()) for i in items)


def _parse_int(text: str, what: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise _LineError(f"{what} should be an integer, not {text!r}")
    return int(text)


def _parse_float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _LineError(f"{what} should be a number, not {text!r}") from None


def _parse_enum(cls: type[Any], text: str, what: str) -> Any:
    try:
        return cls(text)
    except ValueError:
        known = ", ".join(m.value for m in cls)
        raise _LineError(f"unknown {what} {text!r} (expected one of: {known})") from None


def _key_values(words: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or key not in allowed:
            raise _LineError(f"unexpected {w!r} (expected key=value with key in: {', '.join(allowed)})")
        if key in out:
            raise _LineError(f"{key} is given twice")
        out[key] = value
    return out


class _ExprParser:
    """Recursive descent over the tokens of an ``expr`` line."""

    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            m = _EXPR_TOKEN.match(text, pos)
            if m is None:
                raise _LineError(f"unexpected character {text[pos:].lstrip()[:1]!r} in expression")
            kind = m.lastgroup
            assert kind is not None
            self.toks.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind) or k == "end":
            want = repr(value) if value else (kind or "more")
            raise _LineError(f"expected {want} in expression, found {v or 'end of line'!r}")
        self.i += 1
        return v

    def name(self) -> str:
        k, v = self.peek()
        if k not in ("name", "str"):
            raise _LineError(f"expected a name in expression, found {v or 'end of line'!r}")
        self.i += 1
        return _parse_name(v)

    def index_list(self) -> tuple[str, ...]:
        self.take("[")
        out: list[str] = []
        if self.peek()[1] != "]":
            out.append(self.name())
            while self.peek()[1] == ",":
                self.take(",")
                out.append(self.name())
        self.take("]")
        return tuple(out)

    def access(self) -> Access:
        tensor = self.name()
        return Access(tensor, self.index_list())

    def expr(self, depth: int = 0) -> Expr:
        if depth > MAX_EXPR_DEPTH:
            raise _LineError(f"expression nested deeper than {MAX_EXPR_DEPTH}")
        k, v = self.peek()
        if k == "num" or (k == "name" and v in ("inf", "nan") and self.peek(1)[1] not in ("[", "(")):
            self.i += 1
            return Const(float(v))
        if k == "name" and self.peek(1)[1] == "(":
            self.i += 2
            if v in UNARY_OPS:
                operand = self.expr(depth + 1)
                scalar = None
                if self.peek()[1] == ",":
                    self.take(",")
                    scalar = self.number()
                self.take(")")
                return Unary(UNARY_OPS[v], operand, scalar)
            if v in BINARY_OPS:
                lhs = self.expr(depth + 1)
                self.take(",")
                rhs = self.expr(depth + 1)
                self.take(")")
                return Binary(BINARY_OPS[v], lhs, rhs)
            raise _LineError(f"unknown operation {v!r}")
        acc = self.access()
        if self.peek()[1] == "(":
            if k != "name" or v not in REDUCE_OPS:
                raise _LineError(f"unknown reduction {v!r}")
            self.take("(")
            body = self.expr(depth + 1)
            self.take(")")
            return Reduce(REDUCE_OPS[v], acc.indices, body)
        return acc

    def number(self) -> float:
        k, v = self.peek()
        if k == "num" or (k == "name" and v in ("inf", "nan")):
            self.i += 1
            return float(v)
        raise _LineError(f"expected a number, found {v or 'end of line'!r}")


def _parse_expr_line(rest: str) -> Assignment:
    p = _ExprParser(rest)
    aname = p.name()
    p.take(":")
    out = p.access()
    p.take("=")
    value = p.expr()
    source = ""
    if p.peek() == ("name", "source"):
        p.take("source")
        p.take("=")
        source = _parse_name(p.take(kind="str"))
    if p.peek()[0] != "end":
        raise _LineError(f"unexpected {p.peek()[1]!r} after the expression")
    return Assignment(aname, out, value, source)


def _parse_tensor(words: list[str]) -> TensorDecl:
    if len(words) < 4:
        raise _LineError("expected: tensor NAME[SHAPE] DTYPE FORMAT ROLE [names=...] [view_of=...]")
    m = _TENSOR_HEAD.fullmatch(words[0])
    if m is None:
        raise _LineError(f"expected NAME[SHAPE], found {words[0]!r}")
    tname = _parse_name(m.group(1))
    shape = tuple(_parse_int(d, "a dimension") for d in m.group(2).split(",")) if m.group(2) else ()
    dtype = _parse_enum(DType, words[1], "dtype")
    fmt = TensorFormat.from_spec(words[2])
    role = _parse_enum(TensorRole, words[3], "role")
    opts = _key_values(words[4:], ("names", "view_of"))
    view_of = _parse_name(opts["view_of"]) if "view_of" in opts else None
    return TensorDecl(tname, shape, fmt, role, dtype, _parse_names(opts.get("names", "")), view_of)


def _parse_attr(kind: NodeKind, key: str, value: str) -> object:
    if key in ("index", "tensor"):
        return _parse_name(value)
    if key in ("level", "dim", "arity"):
        return _parse_int(value, key)
    if key == "format":
        return _parse_enum(LevelFormat, value, "level format")
    if key == "op":
        return _resolve_op(kind, value)
    if key == "scalar":
        return _parse_float(value, key)
    if key == "block":
        return tuple(_parse_int(b, "a block size") for b in value.split("x")) if value else ()
    return _parse_name(value)  # label


def _parse_node(words: list[str]) -> Node:
    if len(words) < 2:
        raise _LineError("expected: node ID KIND [key=value ...]")
    nid = _parse_int(words[0], "a node id")
    kind = _parse_enum(NodeKind, words[1], "node kind")
    allowed = tuple(f.name for f in fields(Attrs))
    kv = _key_values(words[2:], allowed)
    attrs = {k: _parse_attr(kind, k, v) for k, v in kv.items()}
    return Node(nid, kind, Attrs(**attrs))  # type: ignore[arg-type]  # a float attribute


def _parse_endpoint(text: str) -> PortRef:
    m = _ENDPOINT.fullmatch(text)
    if m is None:
        raise _LineError(f"expected NODE.PORT, found {text!r}")
    return PortRef(int(m.group(1)), _parse_name(m.group(2)) if m.group(2).startswith('"') else m.group(2))


def _parse_stream(words: list[str]) -> Stream:
    if len(words) not in (5, 6) or words[3] != "->":
        raise _LineError("expected: stream ID KIND NODE.PORT -> NODE.PORT [name=NAME]")
    sid = _parse_int(words[0], "a stream id")
    kind = _parse_enum(StreamKind, words[1], "stream kind")
    src, dst = _parse_endpoint(words[2]), _parse_endpoint(words[4])
    sname = _parse_name(_key_values(words[5:], ("name",))["name"]) if len(words) == 6 else ""
    return Stream(sid, kind, src, dst, sname)


def _parse_kernel_head(words: list[str]) -> Kernel:
    if not words:
        raise _LineError("expected: kernel NAME [graph NAME] [computes ...] [reads ...] [writes ...]")
    kname = _parse_name(words[0])
    clauses: dict[str, str] = {}
    rest = words[1:]
    if len(rest) % 2:
        raise _LineError("kernel clauses come in pairs: graph NAME, computes A,B, reads X,Y, writes Z")
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        if key not in ("graph", "computes", "reads", "writes") or key in clauses:
            raise _LineError(f"unexpected kernel clause {key!r}")
        clauses[key] = value
    gname = _parse_name(clauses["graph"]) if "graph" in clauses else kname
    return Kernel(kname, Graph(gname), _parse_names(clauses.get("computes", "")),
                  _parse_names(clauses.get("reads", "")), _parse_names(clauses.get("writes", "")))


def parse_header(line: str, source: str) -> tuple[int, int]:
    m = re.fullmatch(rf"{MAGIC} (\d+)\.(\d+)", line.strip())
    if m is None:
        raise IRFormatError(
            f"{source}:1: not FuseFlow IR text (the first line should be '{MAGIC} {IR_VERSION[0]}.{IR_VERSION[1]}')")
    version = (int(m.group(1)), int(m.group(2)))
    if version[0] > IR_VERSION[0]:
        raise IRVersionError(
            f"{source}: written by IR format {version[0]}.{version[1]}, newer than this FuseFlow reads "
            f"({IR_VERSION[0]}.x); upgrade FuseFlow")
    return version


def from_text(text: str, source: str = "<text>") -> Program:
    """Parse the text form; errors are :class:`IRFormatError` naming ``source`` and the line."""
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise IRFormatError(f"{source}: empty file")
    version = parse_header(lines[first], source)
    prog = Program(TensorProgram(), version=version)
    tp = prog.program
    kernel: Kernel | None = None
    kernel_line = 0
    seen_program = False
    lineno = first + 1
    try:
        for lineno, raw in enumerate(lines[first + 1:], start=first + 2):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            head, _, rest = line.partition(" ")
            if head == "expr":
                if kernel is not None:
                    raise _LineError("'expr' inside a kernel (missing 'end'?)")
                tp.assignments.append(_parse_expr_line(rest))
                continue
            words = _words(rest)
            if kernel is not None:
                if head == "node":
                    node = _parse_node(words)
                    if node.id in kernel.graph.nodes:
                        raise _LineError(f"node {node.id} is defined twice")
                    kernel.graph.nodes[node.id] = node
                elif head == "stream":
                    kernel.graph.streams.append(_parse_stream(words))
                elif head == "end" and not words:
                    prog.kernels.append(kernel)
                    kernel = None
                else:
                    raise _LineError(f"expected 'node', 'stream' or 'end' inside kernel, found {head!r}")
            elif head == "program":
                if seen_program or len(words) != 1:
                    raise _LineError("expected one 'program NAME' line")
                tp.name, seen_program = _parse_name(words[0]), True
            elif head == "meta":
                if len(words) != 3 or words[1] != "=" or not words[2].startswith('"'):
                    raise _LineError('expected: meta KEY = "VALUE"')
                prog.meta[_parse_name(words[0])] = _parse_name(words[2])
            elif head == "tensor":
                decl = _parse_tensor(words)
                if decl.name in tp.tensors:
                    raise _LineError(f"tensor {decl.name!r} is declared twice")
                tp.tensors[decl.name] = decl
            elif head == "group":
                if len(words) < 2 or words[1] != "=":
                    raise _LineError("expected: group NAME = EXPR,EXPR")
                tp.groups.append(FusionGroup(_parse_name(words[0]), _parse_names("".join(words[2:]))))
            elif head == "outputs":
                tp.outputs = _parse_names("".join(words))
            elif head == "kernel":
                kernel, kernel_line = _parse_kernel_head(words), lineno
            else:
                raise _LineError(f"unknown line kind {head!r}")
    except _LineError as e:
        raise IRFormatError(f"{source}:{lineno}: {e}") from None
    except FuseFlowError as e:  # e.g. a bad format spec
        raise type(e)(f"{source}:{lineno}: {e}") from None
    except (ValueError, TypeError, OverflowError) as e:
        raise IRFormatError(f"{source}:{lineno}: {e}") from None
    if kernel is not None:
        raise IRFormatError(f"{source}:{kernel_line}: kernel {kernel.name!r} is not closed by 'end'")
    prog.meta = dict(sorted(prog.meta.items()))
    return prog

