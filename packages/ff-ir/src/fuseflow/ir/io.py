"""Reading and writing programs: binary (.ffir), text (.fftxt) and tortilla (.tortilla, .pb).

The kind of a file is recognized by its content: the ``FFIR`` header (binary), a first
line ``fuseflow-ir X.Y`` (text), else a tortilla ComalGraph. Every failure is one
:class:`IRFormatError` naming the file.

Binary layout: ``b"FFIR"``, major and minor version (uint16 each), payload length and
CRC-32 of the payload (uint32 each), all little-endian, then a serialized
``fuseflow.ir.v1.Program``.

Tensor data lives beside the IR file in ``<file>.data/{data,expected}/<tensor>.npz``
(keys ``shape`` and either ``dense`` or ``coords`` + ``values``); a file without that
directory has no data.
"""

from __future__ import annotations

import os
import struct
import urllib.parse
import zipfile
import zlib
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from fuseflow.ir import protoconv, tortilla
from fuseflow.ir import text as textform
from fuseflow.ir._proto import fuseflow_ir_pb2 as pb
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import IR_VERSION, Kernel, Program
from fuseflow.ir.errors import DataError, FuseFlowError, IRFormatError, IRVersionError, memory_guard

MAGIC = b"FFIR"
HEADER = struct.Struct("<4sHHII")
FORMS = ("binary", "text", "tortilla")
EXTENSIONS = {".ffir": "binary", ".fftxt": "text", ".tortilla": "tortilla", ".pb": "tortilla"}
DATA_KINDS = ("data", "expected")


# ---- in memory --------------------------------------------------------------------

def to_text(program: Program) -> str:
    """The readable text form (without tensor data)."""
    return textform.to_text(program)


def from_text(text: str, source: str = "<text>") -> Program:
    return textform.from_text(text, source)


def to_bytes(program: Program) -> bytes:
    """The binary form: header + serialized protobuf (without tensor data)."""
    payload = protoconv.program_to_pb(program, IR_VERSION).SerializeToString(deterministic=True)
    return HEADER.pack(MAGIC, IR_VERSION[0], IR_VERSION[1], len(payload), zlib.crc32(payload)) + payload


def _check_version(major: int, minor: int, source: str) -> None:
    if major > IR_VERSION[0]:
        raise IRVersionError(
            f"{source}: written by IR format {major}.{minor}, newer than this FuseFlow reads "
            f"({IR_VERSION[0]}.x); upgrade FuseFlow")


def from_bytes(data: bytes, source: str = "<bytes>") -> Program:
    """Parse the binary form (raises :class:`IRFormatError` / :class:`IRVersionError`)."""
    if not data.startswith(MAGIC):
        raise IRFormatError(f"{source}: not a FuseFlow binary IR file (no FFIR header)")
    if len(data) < HEADER.size:
        raise IRFormatError(f"{source}: truncated (only {len(data)} bytes, the header alone is {HEADER.size})")
    _, major, minor, length, crc = HEADER.unpack_from(data)
    _check_version(major, minor, source)
    payload = data[HEADER.size:]
    if len(payload) < length:
        raise IRFormatError(f"{source}: truncated ({len(payload)} of {length} payload bytes)")
    if len(payload) > length:
        raise IRFormatError(f"{source}: {len(payload) - length} unexpected bytes after the payload")
    if zlib.crc32(payload) != crc:
        raise IRFormatError(f"{source}: corrupt (checksum mismatch)")
    msg = pb.Program()
    try:
        msg.ParseFromString(payload)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise IRFormatError(f"{source}: corrupt payload ({e or 'cannot decode'})") from None
    _check_version(msg.version.major, msg.version.minor, source)
    try:
        return protoconv.program_from_pb(msg)
    except IRFormatError as e:
        raise type(e)(f"{source}: {e}") from None


def detect_form(data: bytes, path: str | os.PathLike[str] | None = None) -> str:
    """``binary``, ``text`` or ``tortilla`` by content (the extension only breaks ties for
    tortilla, which has no header); raises :class:`IRFormatError` when it is none of them."""
    source = str(path) if path is not None else "<bytes>"
    if not data.strip():
        raise IRFormatError(f"{source}: empty file")
    if data.startswith(MAGIC):
        return "binary"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(textform.MAGIC.encode()):
        return "text"
    if path is not None and EXTENSIONS.get(Path(path).suffix.lower()) == "tortilla":
        return "tortilla"
    try:
        tortilla.parse_tortilla(data, source, strict=True)
        return "tortilla"
    except IRFormatError:
        pass
    if _looks_like_text(data):
        return "text"  # the parser names what is wrong with the first line
    raise IRFormatError(
        f"{source}: not a FuseFlow IR file (no FFIR header, no '{textform.MAGIC}' first line, "
        "not a tortilla graph)")


def _looks_like_text(data: bytes) -> bool:
    try:
        head = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in head)


def from_any(data: bytes, source: str = "<bytes>", form: str | None = None) -> Program:
    """Parse bytes of any form (detected by content unless ``form`` is given)."""
    form = form or detect_form(data, source)
    if form == "binary":
        return from_bytes(data, source)
    if form == "text":
        try:
            decoded = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise IRFormatError(f"{source}: not UTF-8 text (byte {e.start})") from None
        return from_text(decoded, source)
    if form == "tortilla":
        return tortilla.program_from_tortilla(data, source)
    raise IRFormatError(f"unknown IR form {form!r} (expected one of: {', '.join(FORMS)})")


# ---- files ------------------------------------------------------------------------

def form_for(path: str | os.PathLike[str], form: str | None = None) -> str:
    """The form to write ``path`` in: ``form`` if given, else by extension."""
    if form is not None:
        if form not in FORMS:
            raise IRFormatError(f"unknown IR form {form!r} (expected one of: {', '.join(FORMS)})")
        return form
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise IRFormatError(f"{path}: cannot tell the form from the extension {suffix or '(none)'!r}; "
                            f"use .ffir, .fftxt, .tortilla or .pb, or give the form ({', '.join(FORMS)})")
    return EXTENSIONS[suffix]


def load(path: str | os.PathLike[str]) -> Program:
    """Read a program in any form, plus its tensor data from the sidecar directory."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise IRFormatError(f"{p}: cannot read ({e.strerror or e})") from None
    program = from_any(data, str(p))
    if program.kernels and not program.program.tensors:
        program = _with_sidecar_program(program, p)
    load_data(program, p)
    return program


#: beside a tortilla graph (which holds one kernel's graph only), FuseFlow keeps its tensor
#: program here, so a graph it exported comes back whole
SIDECAR_PROGRAM = "program.fftxt"


def _with_sidecar_program(graph_only: Program, path: Path) -> Program:
    """A graph-only program (tortilla) completed by the tensor program in its sidecar."""
    side = data_dir(path) / SIDECAR_PROGRAM
    if not side.is_file():
        return graph_only
    try:
        full = from_text(side.read_text(encoding="utf-8"), str(side))
    except UnicodeDecodeError as e:
        raise IRFormatError(f"{side}: not UTF-8 text (byte {e.start})") from None
    kernel = graph_only.kernels[0]
    known = {k.name: k for k in full.kernels}
    if kernel.name in known:  # keep the expressions and reads/writes it recorded
        k = known[kernel.name]
        kernel = Kernel(kernel.name, kernel.graph, k.assignments, k.inputs, k.outputs)
    return Program(full.program, [kernel], meta=full.meta)


def save(program: Program, path: str | os.PathLike[str], form: str | None = None) -> None:
    """Write a program (form by extension unless given) and its tensor data sidecar."""
    p = Path(path)
    form = form_for(p, form)
    if form == "binary":
        blob = to_bytes(program)
    elif form == "text":
        blob = to_text(program).encode("utf-8")
    else:
        blob = tortilla.program_to_tortilla(program)
    try:
        p.write_bytes(blob)
    except OSError as e:
        raise IRFormatError(f"{p}: cannot write ({e.strerror or e})") from None
    save_data(program, p)
    side = data_dir(p) / SIDECAR_PROGRAM
    if form == "tortilla":
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text(to_text(program), encoding="utf-8")
    elif side.exists():
        side.unlink()


# ---- tensor data sidecar ----------------------------------------------------------

def data_dir(path: str | os.PathLike[str]) -> Path:
    """The sidecar directory of an IR file: ``<file>.data``."""
    p = Path(path)
    return p.with_name(p.name + ".data")


def _file_name(tensor: str) -> str:
    return urllib.parse.quote(tensor, safe="") + ".npz"


def save_data(program: Program, path: str | os.PathLike[str]) -> None:
    """Write ``program.data`` / ``program.expected`` beside ``path`` (stale files removed)."""
    root = data_dir(path)
    for kind in DATA_KINDS:
        table: dict[str, TensorData] = getattr(program, kind)
        folder = root / kind
        if folder.is_dir():
            for old in folder.glob("*.npz"):
                old.unlink()
        if not table:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for name, td in table.items():
            arrays = {"shape": np.asarray(td.shape, dtype=np.int64)}
            if td.dense is not None:
                arrays["dense"] = np.asarray(td.dense)
            else:
                arrays["coords"] = np.asarray(td.coords)
                arrays["values"] = np.asarray(td.values)
            with open(folder / _file_name(name), "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stubs reject **kwargs of arrays


def load_data(program: Program, path: str | os.PathLike[str]) -> None:
    """Fill ``program.data`` / ``program.expected`` from the sidecar of ``path`` if there is one."""
    root = data_dir(path)
    for kind in DATA_KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        table: dict[str, TensorData] = getattr(program, kind)
        for f in sorted(folder.glob("*.npz")):
            with memory_guard(f"loading tensor data {f}"):
                table[urllib.parse.unquote(f.name[:-4])] = read_npz(f)


# arrays of at least this many bytes are mapped read-only from their file, not read into
# memory: a paper-size expected output (GCN on mag: 2.7 GB) is then paged in only by --check
MMAP_BYTES = 64 << 20


def _mapped(path: Path, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The array of an uncompressed .npz member mapped from the file, or None where it cannot be."""
    if info.compress_type != zipfile.ZIP_STORED or info.file_size < MMAP_BYTES:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            return None
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(f)
        offset = f.tell()
    if dtype.hasobject:
        return None
    mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return mm.view(np.ndarray)


def read_npz(path: Path) -> TensorData:
    """One tensor's data file (raises :class:`DataError` naming the file); big arrays are
    mapped from it (MMAP_BYTES)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
        with np.load(path, allow_pickle=False) as z:
            arrays = {}
            for k in z.files:
                mapped = _mapped(path, members[k]) if k in members else None
                arrays[k] = z[k] if mapped is None else mapped
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{path}: unreadable tensor data ({e})") from None
    try:
        shape = tuple(int(n) for n in arrays["shape"].reshape(-1))
        if "dense" in arrays:
            dense = arrays["dense"]
            if tuple(dense.shape) != shape:
                raise DataError(f"dense array of shape {list(dense.shape)}, expected {list(shape)}")
            return TensorData(shape, dense=dense)
        coords, values = arrays["coords"], arrays["values"]
        if coords.ndim != 2 or coords.shape[0] != len(shape) or values.shape != (coords.shape[1],):
            raise DataError(f"coords {list(coords.shape)} and values {list(values.shape)} do not fit shape "
                            f"{list(shape)}")
        return TensorData(shape, coords=coords, values=values)
    except KeyError as e:
        raise DataError(f"{path}: missing array {e}") from None
    except FuseFlowError as e:
        raise DataError(f"{path}: {e}") from None
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: bad tensor data ({e})") from None
