"""The SAM / Comal tensor data directory: one decimal per line, one file per array.

For a tensor ``T`` stored in a :class:`TensorFormat`:

- ``tensor_T_mode_shape``: the dimensions in storage-level order (level l holds tensor
  mode ``mode_order[l]``), in elements (not blocks);
- ``tensor_T_mode_<m>_seg`` and ``tensor_T_mode_<m>_crd`` for each compressed level, named by
  the tensor mode m the level holds (as SAM names them), ``tensor_T_mode_<m>_crd`` only for a
  singleton level, nothing for a dense level;
- ``tensor_T_mode_vals``: the values by position; with a block shape, each block's
  entries row-major (B^2 numbers per block for BxB blocks).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fuseflow.ir.data import Level, StoredTensor, TensorData, store, unstore
from fuseflow.ir.errors import DataError
from fuseflow.ir.formats import LevelFormat, TensorFormat


def _path(directory: Path, tensor: str, what: str) -> Path:
    return directory / f"tensor_{tensor}_mode_{what}"


def _write_ints(path: Path, values: np.ndarray) -> None:
    path.write_text("".join(f"{int(v)}\n" for v in values.reshape(-1)))


def _write_floats(path: Path, values: np.ndarray) -> None:
    path.write_text("".join(f"{float(v)!r}\n" for v in values.reshape(-1)))


def _read(path: Path, kind: type) -> np.ndarray:
    try:
        lines = path.read_text().split()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    out = []
    for n, word in enumerate(lines, start=1):
        try:
            out.append(kind(word))
        except ValueError:
            raise DataError(f"{path}: entry {n} is not {'an integer' if kind is int else 'a number'}: {word!r}") from None
    return np.array(out, dtype=np.int64 if kind is int else np.float32)


def write_stored(directory: str | os.PathLike[str], tensor: str, st: StoredTensor) -> list[Path]:
    """Write a stored tensor's files into ``directory``; return the files written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    fmt = st.format
    written = [_path(d, tensor, "shape")]
    _write_ints(written[0], np.array([st.shape[m] for m in fmt.mode_order], dtype=np.int64))
    for lv, level in enumerate(st.levels):
        if level.format is LevelFormat.COMPRESSED:
            assert level.seg is not None
            written.append(_path(d, tensor, f"{fmt.mode_order[lv]}_seg"))
            _write_ints(written[-1], level.seg)
        if level.format is not LevelFormat.DENSE:
            assert level.crd is not None
            written.append(_path(d, tensor, f"{fmt.mode_order[lv]}_crd"))
            _write_ints(written[-1], level.crd)
    written.append(_path(d, tensor, "vals"))
    _write_floats(written[-1], st.vals)
    return written


def read_stored(directory: str | os.PathLike[str], tensor: str, fmt: TensorFormat) -> StoredTensor:
    """Read a tensor stored in ``fmt`` from ``directory`` (raises :class:`DataError`)."""
    d = Path(directory)
    level_shape = [int(n) for n in _read(_path(d, tensor, "shape"), int)]
    if len(level_shape) != fmt.order:
        raise DataError(f"{_path(d, tensor, 'shape')}: {len(level_shape)} dimensions, format "
                        f"{fmt.spec()} has {fmt.order} levels")
    block = fmt.block or (1,) * fmt.order
    level_block = [block[m] for m in fmt.mode_order]
    shape = [0] * fmt.order
    for lv, m in enumerate(fmt.mode_order):
        shape[m] = level_shape[lv]
    levels: list[Level] = []
    n_pos = 1
    for lv, lfmt in enumerate(fmt.levels):
        if level_block[lv] <= 0 or level_shape[lv] % level_block[lv]:
            raise DataError(f"tensor {tensor}: block {level_block[lv]} does not divide level {lv} "
                            f"of size {level_shape[lv]}")
        dim = level_shape[lv] // level_block[lv]
        if lfmt is LevelFormat.DENSE:
            levels.append(Level(lfmt, dim))
            n_pos *= dim
            continue
        mode = fmt.mode_order[lv]  # SAM names a level's files by the tensor mode it holds
        crd = _read(_path(d, tensor, f"{mode}_crd"), int)
        seg = None
        if lfmt is LevelFormat.COMPRESSED:
            seg = _read(_path(d, tensor, f"{mode}_seg"), int)
            if len(seg) != n_pos + 1 or seg[0] != 0 or seg[-1] != len(crd) or np.any(np.diff(seg) < 0):
                raise DataError(f"{_path(d, tensor, f'{mode}_seg')}: not a segment array for {n_pos} "
                                f"fibers and {len(crd)} coordinates")
        elif len(crd) != n_pos:
            raise DataError(f"{_path(d, tensor, f'{mode}_crd')}: {len(crd)} coordinates for {n_pos} positions")
        if crd.size and (crd.min() < 0 or crd.max() >= dim):
            raise DataError(f"{_path(d, tensor, f'{mode}_crd')}: coordinate out of range 0..{dim - 1}")
        levels.append(Level(lfmt, dim, seg=seg, crd=crd))
        n_pos = len(crd)
    vals = _read(_path(d, tensor, "vals"), float)
    tile = tuple(block) if fmt.block is not None else ()
    per = int(np.prod(tile)) if tile else 1
    if vals.size != n_pos * per:
        raise DataError(f"{_path(d, tensor, 'vals')}: {vals.size} values for {n_pos} positions"
                        + (f" of {per} entries" if tile else ""))
    return StoredTensor(fmt, tuple(shape), levels, vals.reshape((n_pos, *tile)))


def write_tensor(directory: str | os.PathLike[str], tensor: str, data: TensorData,
                 fmt: TensorFormat) -> list[Path]:
    """Lay ``data`` out in ``fmt`` and write it in the SAM layout."""
    return write_stored(directory, tensor, store(data, fmt))


def read_tensor(directory: str | os.PathLike[str], tensor: str, fmt: TensorFormat) -> TensorData:
    """Read a tensor written in the SAM layout back as dense data."""
    return TensorData.from_dense(unstore(read_stored(directory, tensor, fmt)))
