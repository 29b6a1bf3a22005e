"""Hand-built kernels (tensor program + SAM graph) for tests, docs, benchmarks and the
simulator warm-up.

Each function returns a one-kernel :class:`Program` without data; simulate it with
``random_inputs=SEED`` or put tensors in ``program.data``.
"""

from __future__ import annotations

from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.formats import TensorFormat
from fuseflow.ir.graph import Graph, Node, NodeKind
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
)

K = NodeKind
CSR = TensorFormat.parse("dc")
DENSE1 = TensorFormat.parse("d")
DENSE2 = TensorFormat.parse("dd")


class _Builder:
    """A graph plus short helpers; ``port(node, name)`` pairs name an endpoint."""

    def __init__(self, name: str) -> None:
        self.g = Graph(name)

    def add(self, kind: NodeKind, **attrs: object) -> Node:
        return self.g.add(kind, **attrs)

    def link(self, src: tuple[Node, str], dst: tuple[Node, str]) -> None:
        self.g.connect(src[0], src[1], dst[0], dst[1])

    def scan(self, parent: tuple[Node, str], tensor: str, level: int, fmt: TensorFormat, index: str) -> Node:
        n = self.add(K.LEVEL_SCAN, tensor=tensor, level=level, format=fmt.levels[level], index=index)
        self.link(parent, (n, "ref"))
        return n

    def fan(self, src: tuple[Node, str], *dsts: tuple[Node, str]) -> None:
        """src to every dst (a broadcast when more than one)."""
        if len(dsts) == 1:
            self.link(src, dsts[0])
            return
        b = self.add(K.BROADCAST, arity=len(dsts))
        self.link(src, (b, "in"))
        for i, d in enumerate(dsts):
            self.link((b, f"out{i}"), d)

    def repeat(self, value: tuple[Node, str], over_crd: tuple[Node, str] | None) -> tuple[Node, Node]:
        """(repeat node, its signal node); connect ``over_crd`` (or later into sig 'crd')."""
        sig = self.add(K.REPEAT_SIG)
        rep = self.add(K.REPEAT)
        if over_crd is not None:
            self.link(over_crd, (sig, "crd"))
        self.link(value, (rep, "in"))
        self.link((sig, "repsig"), (rep, "repsig"))
        return rep, sig

    def vals(self, ref: tuple[Node, str], tensor: str) -> Node:
        n = self.add(K.VAL_ARRAY, tensor=tensor)
        self.link(ref, (n, "ref"))
        return n

    def writer_nodes(self, tensor: str, fmt: TensorFormat) -> tuple[list[Node], Node]:
        lws = [self.add(K.LEVEL_WRITE, tensor=tensor, level=lv, format=f) for lv, f in enumerate(fmt.levels)]
        return lws, self.add(K.VAL_WRITE, tensor=tensor)

    def writers(self, tensor: str, fmt: TensorFormat, crds: list[tuple[Node, str]], val: tuple[Node, str]) -> None:
        lws, vw = self.writer_nodes(tensor, fmt)
        for w, c in zip(lws, crds, strict=False):
            self.link(c, (w, "crd"))
        self.link(val, (vw, "val"))


def _program(name: str, decls: list[TensorDecl], assigns: list[Assignment], graph: Graph,
             outputs: tuple[str, ...]) -> Program:
    tp = TensorProgram({d.name: d for d in decls}, assigns, [], outputs, name)
    ins = tuple(d.name for d in decls if d.role in (TensorRole.INPUT, TensorRole.PARAM))
    kernel = Kernel(name, graph, tuple(a.name for a in assigns), ins, outputs)
    return Program(tp, [kernel])


def _mm(a: str, ai: tuple[str, str], b: str, bi: tuple[str, str]) -> Reduce:
    return Reduce(ReduceOp.SUM, ("k",), Binary(BinaryOp.MUL, Access(a, ai), Access(b, bi)))


def spmv(n_rows: int = 8, n_cols: int = 8) -> Program:
    """y[i] = sum_j A[i,j] x[j]; A CSR, x dense; locate looks j up in x."""
    b = _Builder("spmv")
    root = b.add(K.ROOT)
    a0 = b.scan((root, "ref"), "A", 0, CSR, "i")
    a1 = b.scan((a0, "ref"), "A", 1, CSR, "j")
    loc = b.add(K.LOCATE, tensor="x", level=0, index="j")
    b.link((a1, "crd"), (loc, "crd"))
    b.link((a1, "ref"), (loc, "ref"))
    av, xv = b.vals((loc, "ref"), "A"), b.vals((loc, "located"), "x")
    mul = b.add(K.ALU, op=BinaryOp.MUL, arity=2)
    b.link((av, "val"), (mul, "a"))
    b.link((xv, "val"), (mul, "b"))
    red = b.add(K.REDUCE, op=ReduceOp.SUM, index="j")
    b.link((mul, "val"), (red, "val"))
    b.writers("y", DENSE1, [(a0, "crd")], (red, "val"))
    decls = [TensorDecl("A", (n_rows, n_cols), CSR), TensorDecl("x", (n_cols,), DENSE1),
             TensorDecl("y", (n_rows,), DENSE1, TensorRole.OUTPUT)]
    expr = Reduce(ReduceOp.SUM, ("j",), Binary(BinaryOp.MUL, Access("A", ("i", "j")), Access("x", ("j",))))
    return _program("spmv", decls, [Assignment("y", Access("y", ("i",)), expr)], b.g, ("y",))


def spmm_ikj(ni: int = 8, nk: int = 8, nj: int = 8, block: int | None = None) -> Program:
    """C[i,j] = sum_k A[i,k] B[k,j], Gustavson order i<k<j with a spacc1 over k.
    A CSR; B CSR (dense blocked with ``block``: A BSR, B blocked dense, C BSR)."""
    blk = (block, block) if block else None
    fa = CSR.with_block(blk)
    fb = (DENSE2 if block else CSR).with_block(blk)
    fc = CSR.with_block(blk)
    b = _Builder("spmm_ikj" + (f"_b{block}" if block else ""))
    root = b.add(K.ROOT)
    a0 = b.scan((root, "ref"), "A", 0, fa, "i")
    a1 = b.scan((a0, "ref"), "A", 1, fa, "k")
    loc = b.add(K.LOCATE, tensor="B", level=0, index="k")  # B's dense k level: ref = k
    b.link((a1, "crd"), (loc, "crd"))
    b.link((a1, "ref"), (loc, "ref"))
    b1 = b.scan((loc, "located"), "B", 1, fb, "j")
    rep, sig = b.repeat((loc, "ref"), None)
    spacc = b.add(K.SPACC1, index="k")
    b.fan((b1, "crd"), (sig, "crd"), (spacc, "crd_inner"))
    b.link((loc, "crd"), (spacc, "crd_outer"))
    av, bv = b.vals((rep, "out"), "A"), b.vals((b1, "ref"), "B")
    mul = b.add(K.ALU, op=BinaryOp.MUL, arity=2, block=blk, label="tile_matmul" if block else None)
    b.link((av, "val"), (mul, "a"))
    b.link((bv, "val"), (mul, "b"))
    b.link((mul, "val"), (spacc, "val"))
    b.writers("C", fc, [(a0, "crd"), (spacc, "crd")], (spacc, "val"))
    decls = [TensorDecl("A", (ni, nk), fa), TensorDecl("B", (nk, nj), fb),
             TensorDecl("C", (ni, nj), fc, TensorRole.OUTPUT)]
    asg = Assignment("C", Access("C", ("i", "j")), _mm("A", ("i", "k"), "B", ("k", "j")))
    return _program(b.g.name, decls, [asg], b.g, ("C",))


def spmm_ijk(ni: int = 8, nk: int = 8, nj: int = 8) -> Program:
    """C[i,j] = sum_k A[i,k] B[k,j], inner-product order i<j<k: A CSR, B dense stored
    column-major (levels j, k) and located at its k level with base = B's j ref
    (repeated over k); C dense."""
    fb = DENSE2.permuted((1, 0))
    b = _Builder("spmm_ijk")
    c_lw, c_vw = b.writer_nodes("C", DENSE2)
    root_a, root_b = b.add(K.ROOT), b.add(K.ROOT)
    a0 = b.scan((root_a, "ref"), "A", 0, CSR, "i")
    rep_b, sig_i = b.repeat((root_b, "ref"), None)  # B's root ref, once per i
    b.fan((a0, "crd"), (sig_i, "crd"), (c_lw[0], "crd"))
    b0 = b.scan((rep_b, "out"), "B", 0, fb, "j")
    rep_a, sig_j = b.repeat((a0, "ref"), None)  # A's row ref, once per j
    b.fan((b0, "crd"), (sig_j, "crd"), (c_lw[1], "crd"))
    a1 = b.scan((rep_a, "out"), "A", 1, CSR, "k")
    rep_base, sig_k = b.repeat((b0, "ref"), None)  # B's j ref, once per k
    loc = b.add(K.LOCATE, tensor="B", level=1, index="k")
    b.fan((a1, "crd"), (sig_k, "crd"), (loc, "crd"))
    b.link((a1, "ref"), (loc, "ref"))
    b.link((rep_base, "out"), (loc, "base"))
    av, bv = b.vals((loc, "ref"), "A"), b.vals((loc, "located"), "B")
    mul = b.add(K.ALU, op=BinaryOp.MUL, arity=2)
    b.link((av, "val"), (mul, "a"))
    b.link((bv, "val"), (mul, "b"))
    red = b.add(K.REDUCE, op=ReduceOp.SUM, index="k")
    b.link((mul, "val"), (red, "val"))
    b.link((red, "val"), (c_vw, "val"))
    decls = [TensorDecl("A", (ni, nk), CSR), TensorDecl("B", (nk, nj), fb),
             TensorDecl("C", (ni, nj), DENSE2, TensorRole.OUTPUT)]
    asg = Assignment("C", Access("C", ("i", "j")), _mm("A", ("i", "k"), "B", ("k", "j")))
    return _program("spmm_ijk", decls, [asg], b.g, ("C",))


def sddmm(ni: int = 8, nj: int = 8, nk: int = 4) -> Program:
    """C[i,j] = S[i,j] * sum_k A[i,k] B[j,k]; S CSR, A and B dense; the two dense k
    scans meet in an intersect."""
    b = _Builder("sddmm")
    c_lw, c_vw = b.writer_nodes("C", CSR)
    root = b.add(K.ROOT)
    s0 = b.scan((root, "ref"), "S", 0, CSR, "i")
    loc_a = b.add(K.LOCATE, tensor="A", level=0, index="i")  # A's row ref = i
    b.link((s0, "crd"), (loc_a, "crd"))
    b.link((s0, "ref"), (loc_a, "ref"))
    b.link((loc_a, "crd"), (c_lw[0], "crd"))
    s1 = b.scan((loc_a, "ref"), "S", 1, CSR, "j")
    loc_b = b.add(K.LOCATE, tensor="B", level=0, index="j")  # B's row ref = j
    b.link((s1, "crd"), (loc_b, "crd"))
    b.link((s1, "ref"), (loc_b, "ref"))
    rep_a, sig_j = b.repeat((loc_a, "located"), None)  # A's row, once per j
    b.fan((loc_b, "crd"), (sig_j, "crd"), (c_lw[1], "crd"))
    a1 = b.scan((rep_a, "out"), "A", 1, DENSE2, "k")
    b1 = b.scan((loc_b, "located"), "B", 1, DENSE2, "k")
    inter = b.add(K.INTERSECT, arity=2, index="k")
    b.link((a1, "crd"), (inter, "crd0"))
    b.link((b1, "crd"), (inter, "crd1"))
    b.link((a1, "ref"), (inter, "ref0"))
    b.link((b1, "ref"), (inter, "ref1"))
    av, bv = b.vals((inter, "ref0"), "A"), b.vals((inter, "ref1"), "B")
    mul = b.add(K.ALU, op=BinaryOp.MUL, arity=2)
    b.link((av, "val"), (mul, "a"))
    b.link((bv, "val"), (mul, "b"))
    red = b.add(K.REDUCE, op=ReduceOp.SUM, index="k")
    b.link((mul, "val"), (red, "val"))
    sv = b.vals((loc_b, "ref"), "S")
    mul2 = b.add(K.ALU, op=BinaryOp.MUL, arity=2)
    b.link((sv, "val"), (mul2, "a"))
    b.link((red, "val"), (mul2, "b"))
    b.link((mul2, "val"), (c_vw, "val"))
    decls = [TensorDecl("S", (ni, nj), CSR), TensorDecl("A", (ni, nk), DENSE2),
             TensorDecl("B", (nj, nk), DENSE2), TensorDecl("C", (ni, nj), CSR, TensorRole.OUTPUT)]
    expr = Binary(BinaryOp.MUL, Access("S", ("i", "j")), _mm("A", ("i", "k"), "B", ("j", "k")))
    return _program("sddmm", decls, [Assignment("C", Access("C", ("i", "j")), expr)], b.g, ("C",))


def elementwise(op: BinaryOp = BinaryOp.ADD, ni: int = 8, nj: int = 8, fmt: str = "dc") -> Program:
    """C = A op B for matrices in format ``fmt`` (dc = CSR, cc = DCSR): a union at both
    levels for ADD/SUB/MAX, an intersect for MUL."""
    f = TensorFormat.parse(fmt)
    joiner = K.UNION if op.is_union else K.INTERSECT
    b = _Builder(f"elem_{op.value}_{fmt}")
    ra, rb = b.add(K.ROOT), b.add(K.ROOT)
    crds: list[tuple[Node, str]] = []
    pa: tuple[Node, str] = (ra, "ref")
    pb: tuple[Node, str] = (rb, "ref")
    idx = ("i", "j")
    for lv in range(2):
        sa = b.scan(pa, "A", lv, f, idx[lv])
        sb = b.scan(pb, "B", lv, f, idx[lv])
        j = b.add(joiner, arity=2, index=idx[lv])
        b.link((sa, "crd"), (j, "crd0"))
        b.link((sb, "crd"), (j, "crd1"))
        b.link((sa, "ref"), (j, "ref0"))
        b.link((sb, "ref"), (j, "ref1"))
        crds.append((j, "crd"))
        pa, pb = (j, "ref0"), (j, "ref1")
    av, bv = b.vals(pa, "A"), b.vals(pb, "B")
    alu = b.add(K.ALU, op=op, arity=2)
    b.link((av, "val"), (alu, "a"))
    b.link((bv, "val"), (alu, "b"))
    b.writers("C", f, crds, (alu, "val"))
    decls = [TensorDecl("A", (ni, nj), f), TensorDecl("B", (ni, nj), f),
             TensorDecl("C", (ni, nj), f, TensorRole.OUTPUT)]
    expr = Binary(op, Access("A", ("i", "j")), Access("B", ("i", "j")))
    return _program(b.g.name, decls, [Assignment("C", Access("C", ("i", "j")), expr)], b.g, ("C",))


def softmax(ni: int = 8, nj: int = 8) -> Program:
    """Row softmax over the stored values of a CSR matrix:
    Y[i,j] = exp(X[i,j] - max_j X[i,:]) / sum_j exp(X[i,j] - max_j X[i,:])."""
    b = _Builder("softmax")
    y_lw, y_vw = b.writer_nodes("Y", CSR)
    root = b.add(K.ROOT)
    x0 = b.scan((root, "ref"), "X", 0, CSR, "i")
    b.link((x0, "crd"), (y_lw[0], "crd"))
    x1 = b.scan((x0, "ref"), "X", 1, CSR, "j")
    xv = b.vals((x1, "ref"), "X")
    mx = b.add(K.REDUCE, op=ReduceOp.MAX, index="j")
    sub = b.add(K.ALU, op=BinaryOp.SUB, arity=2)
    b.fan((xv, "val"), (mx, "val"), (sub, "a"))
    rep_m, sig_m = b.repeat((mx, "val"), None)
    b.link((rep_m, "out"), (sub, "b"))
    ex = b.add(K.ALU, op=UnaryOp.EXP, arity=1)
    b.link((sub, "val"), (ex, "a"))
    sm = b.add(K.REDUCE, op=ReduceOp.SUM, index="j")
    div = b.add(K.ALU, op=BinaryOp.DIV, arity=2)
    b.fan((ex, "val"), (div, "a"), (sm, "val"))
    rep_s, sig_s = b.repeat((sm, "val"), None)
    b.link((rep_s, "out"), (div, "b"))
    b.fan((x1, "crd"), (sig_m, "crd"), (sig_s, "crd"), (y_lw[1], "crd"))
    b.link((div, "val"), (y_vw, "val"))
    x = Access("X", ("i", "j"))
    m = Access("M", ("i",))
    e = Access("E", ("i", "j"))
    asg = [
        Assignment("M", m, Reduce(ReduceOp.MAX, ("j",), x)),
        Assignment("E", e, Binary(BinaryOp.MASK, x, Unary(UnaryOp.EXP, Binary(BinaryOp.SUB, x, m)))),
        Assignment("S", Access("S", ("i",)), Reduce(ReduceOp.SUM, ("j",), e)),
        Assignment("Y", Access("Y", ("i", "j")), Binary(BinaryOp.DIV, e, Access("S", ("i",)))),
    ]
    decls = [TensorDecl("X", (ni, nj), CSR), TensorDecl("M", (ni,), DENSE1, TensorRole.INTERMEDIATE),
             TensorDecl("E", (ni, nj), CSR, TensorRole.INTERMEDIATE),
             TensorDecl("S", (ni,), DENSE1, TensorRole.INTERMEDIATE),
             TensorDecl("Y", (ni, nj), CSR, TensorRole.OUTPUT)]
    return _program("softmax", decls, asg, b.g, ("Y",))


def blocked_spmm(ni: int = 64, nk: int = 64, nj: int = 64, block: int = 16) -> Program:
    """SpMM on BxB tiles (A BSR, B blocked dense): tile matmuls summed by a spacc1."""
    return spmm_ikj(ni, nk, nj, block=block)


ALL = {"spmv": spmv, "spmm_ikj": spmm_ikj, "spmm_ijk": spmm_ijk, "sddmm": sddmm,
       "elementwise": elementwise, "softmax": softmax, "blocked_spmm": blocked_spmm}
