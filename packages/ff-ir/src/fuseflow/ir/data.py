"""Tensor data: values of a program's inputs, parameters and results.

Held as COO (coordinates + values) or dense arrays; storage levels (seg/crd arrays per
level, values per position) are derived for any :class:`TensorFormat`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuseflow.ir.errors import DataError
from fuseflow.ir.formats import LevelFormat, TensorFormat


@dataclass(eq=False)
class TensorData:
    """A tensor's values: ``dense`` (ndarray) or COO (``coords`` ndim x nnz, ``values``).

    Equality compares shapes and arrays (same representation, equal elements).
    """

    shape: tuple[int, ...]
    dense: np.ndarray | None = None
    coords: np.ndarray | None = None
    values: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorData):
            return NotImplemented
        if tuple(self.shape) != tuple(other.shape):
            return False
        return all(_same_array(getattr(self, f), getattr(other, f)) for f in ("dense", "coords", "values"))

    __hash__ = None  # type: ignore[assignment]  # arrays make TensorData unhashable

    @classmethod
    def from_dense(cls, arr: np.ndarray) -> TensorData:
        a = np.asarray(arr, dtype=np.float32)
        return cls(tuple(a.shape), dense=a)

    @classmethod
    def from_coo(cls, shape: tuple[int, ...], coords: np.ndarray, values: np.ndarray) -> TensorData:
        c = np.asarray(coords, dtype=np.int64).reshape(len(shape), -1)
        v = np.asarray(values, dtype=np.float32).reshape(-1)
        if c.shape[1] != v.shape[0]:
            raise DataError(f"COO data has {c.shape[1]} coordinates but {v.shape[0]} values")
        for m, n in enumerate(shape):
            if c.shape[1] and (c[m].min() < 0 or c[m].max() >= n):
                raise DataError(f"COO coordinate out of range in mode {m} (size {n})")
        return cls(tuple(shape), coords=c, values=v)

    def to_dense(self) -> np.ndarray:
        if self.dense is not None:
            return self.dense
        out = np.zeros(self.shape, dtype=np.float32)
        assert self.coords is not None and self.values is not None
        if self.values.size:
            np.add.at(out, tuple(self.coords), self.values)
        return out

    def nnz(self) -> int:
        if self.dense is not None:
            return int(np.count_nonzero(self.dense))
        assert self.values is not None
        return int(self.values.size)

    def to_coo(self) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates (ndim x nnz, row-major sorted) and values of the stored entries."""
        if self.dense is not None:
            nz = np.nonzero(self.dense)
            return np.array(nz, dtype=np.int64).reshape(len(self.shape), -1), self.dense[nz]
        assert self.coords is not None and self.values is not None
        return self.coords, self.values


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


@dataclass
class Level:
    """One storage level: ``seg``/``crd`` for compressed, ``crd`` for singleton, ``dim`` for dense."""

    format: LevelFormat
    dim: int
    seg: np.ndarray | None = None
    crd: np.ndarray | None = None


@dataclass
class StoredTensor:
    """A tensor laid out in a format: its levels and its value array (scalars or tiles)."""

    format: TensorFormat
    shape: tuple[int, ...]  # logical shape, in mode order of the tensor (not the storage)
    levels: list[Level]
    vals: np.ndarray  # (npos,) or (npos, *block)


def store(data: TensorData, fmt: TensorFormat) -> StoredTensor:
    """Lay out ``data`` in ``fmt``: dense levels keep every coordinate, compressed levels
    keep the coordinates of stored entries (with a block, levels index blocks and a block
    is stored if any of its entries is non-zero)."""
    shape = tuple(data.shape)
    if len(shape) != fmt.order:
        raise DataError(f"format {fmt.spec()} has {fmt.order} levels but the tensor has {len(shape)} modes")
    block = fmt.block or (1,) * fmt.order
    for m, (n, b) in enumerate(zip(shape, block, strict=True)):
        if n % b:
            raise DataError(f"block size {b} does not divide mode {m} of size {n}")
    perm = fmt.mode_order
    bshape = tuple(shape[m] // block[m] for m in perm)  # storage-level dims
    if data.dense is not None and fmt.block is None and all(lf is LevelFormat.DENSE for lf in fmt.levels):
        # every position stored: the values in storage order, no coordinates (+0: no -0, as below)
        vals = np.asarray(data.dense, dtype=np.float32).transpose(list(perm)).reshape(-1) + np.float32(0)
        return StoredTensor(fmt, shape, [Level(LevelFormat.DENSE, d) for d in bshape], vals)
    coords, values = data.to_coo()
    if fmt.block is not None:
        dense = data.to_dense()
        # block-level coordinates of non-zero blocks
        bc = coords // np.array(block, dtype=np.int64)[:, None]
        grid = tuple(n // b for n, b in zip(shape, block, strict=True))
        hit = np.zeros(int(np.prod(grid)), dtype=bool)  # a mark per block: no row sort
        if bc.size:
            hit[np.ravel_multi_index(tuple(bc), grid)] = True
        keys = np.array(np.unravel_index(np.flatnonzero(hit), grid), dtype=np.int64).reshape(fmt.order, -1)
        coords = keys
        values = np.zeros(keys.shape[1])  # placeholder, tiles filled below
    else:
        dense = None
    # storage-order coordinates, sorted lexicographically
    sc = coords[list(perm)] if coords.size else np.zeros((fmt.order, 0), dtype=np.int64)
    order = np.lexsort(sc[::-1]) if sc.shape[1] else np.zeros(0, dtype=np.int64)
    sc = sc[:, order]
    values = np.asarray(values)[order]
    levels: list[Level] = []
    # positions: for each stored entry, its position at the current level
    parent_pos = np.zeros(sc.shape[1], dtype=np.int64)
    n_parent = 1
    for lv, lfmt in enumerate(fmt.levels):
        dim = bshape[lv]
        c = sc[lv]
        if lfmt is LevelFormat.DENSE:
            pos = parent_pos * dim + c
            levels.append(Level(lfmt, dim))
            n_parent = n_parent * dim
        elif lfmt is LevelFormat.COMPRESSED and lv + 1 < fmt.order and fmt.levels[lv + 1] is LevelFormat.SINGLETON:
            # non-unique compressed level (COO): one position per stored entry, in sorted order
            seg = np.zeros(n_parent + 1, dtype=np.int64)
            np.add.at(seg, parent_pos + 1, 1)
            seg = np.cumsum(seg)
            pos = np.arange(sc.shape[1], dtype=np.int64)
            levels.append(Level(lfmt, dim, seg=seg, crd=c.astype(np.int64)))
            n_parent = sc.shape[1]
        elif lfmt is LevelFormat.COMPRESSED:
            key = parent_pos * max(dim, 1) + c
            uniq, first = np.unique(key, return_index=True)
            up = uniq // max(dim, 1)
            ucrd = uniq % max(dim, 1)
            seg = np.zeros(n_parent + 1, dtype=np.int64)
            np.add.at(seg, up + 1, 1)
            seg = np.cumsum(seg)
            pos = np.searchsorted(uniq, key)
            levels.append(Level(lfmt, dim, seg=seg, crd=ucrd.astype(np.int64)))
            n_parent = len(uniq)
        else:  # singleton: one coordinate per parent position (entries must be unique)
            if len(np.unique(parent_pos)) != len(parent_pos):
                raise DataError("a singleton level needs one entry per parent position (duplicate coordinates)")
            crd = np.zeros(n_parent, dtype=np.int64)
            crd[parent_pos] = c
            pos = parent_pos
            levels.append(Level(lfmt, dim, crd=crd))
        parent_pos = pos
    if fmt.block is None:
        vals = np.zeros(n_parent, dtype=np.float32)
        if values.size:
            np.add.at(vals, parent_pos, values)
    else:
        assert dense is not None
        vals = np.zeros((n_parent, *block), dtype=np.float32)
        inv = np.argsort(perm)
        # (grid0, b0, grid1, b1, ...) -> (grid0, grid1, ..., b0, b1, ...): tiles by block coordinate
        split = dense.reshape([x for g, b in zip(grid, block, strict=True) for x in (g, b)])
        tiles = split.transpose(list(range(0, 2 * fmt.order, 2)) + list(range(1, 2 * fmt.order, 2)))
        if sc.shape[1]:
            vals[parent_pos] = tiles[tuple(sc[inv])]
    return StoredTensor(fmt, shape, levels, vals)


def unstore(st: StoredTensor) -> np.ndarray:
    """Dense array of a stored tensor (inverse of :func:`store`)."""
    fmt = st.format
    block = fmt.block or (1,) * fmt.order
    # walk levels to recover storage coordinates of each value position
    pos_coords: np.ndarray = np.zeros((0, 1), dtype=np.int64)  # storage coords of each position
    n_parent = 1
    for lv in st.levels:
        if lv.format is LevelFormat.DENSE:
            c = np.tile(np.arange(lv.dim, dtype=np.int64), n_parent)
            parent = np.repeat(np.arange(n_parent), lv.dim)
            n_parent = n_parent * lv.dim
        elif lv.format is LevelFormat.COMPRESSED:
            assert lv.seg is not None and lv.crd is not None
            c = lv.crd
            parent = np.repeat(np.arange(len(lv.seg) - 1), np.diff(lv.seg))
            n_parent = len(lv.crd)
        else:
            assert lv.crd is not None
            c = lv.crd
            parent = np.arange(len(lv.crd))
        pos_coords = np.vstack([pos_coords[:, parent], c[None, :]])
    out = np.zeros(st.shape, dtype=np.float32)
    inv = np.argsort(fmt.mode_order)
    if pos_coords.shape[0] == 0:
        return out
    mode_coords = pos_coords[inv]
    for k in range(mode_coords.shape[1]):
        bcoord = mode_coords[:, k]
        if fmt.block is None:
            out[tuple(bcoord)] += st.vals[k]
        else:
            sl = tuple(slice(b * s, (b + 1) * s) for b, s in zip(bcoord, block, strict=True))
            out[sl] += st.vals[k]
    return out


def resolve_view(program_tensors: dict, env: dict[str, TensorData], name: str) -> TensorData | None:
    """Data of ``name``: from ``env``, or, for a view (``view_of``), the source's row-major
    values in the view's shape. ``None`` when neither is available."""
    if name in env:
        return env[name]
    decl = program_tensors.get(name)
    if decl is None or decl.view_of is None:
        return None
    src = resolve_view(program_tensors, env, decl.view_of)
    if src is None:
        return None
    if tuple(src.shape) == tuple(decl.shape):
        return src
    return TensorData.from_dense(src.to_dense().reshape(decl.shape))
