"""Image data sets for the sparse autoencoder: synthetic at published sizes, or a folder.

A batch is a sparse (count x side*side) matrix of grayscale pixels in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from fuseflow.ir.errors import DataError


@dataclass
class Images:
    name: str
    side: int
    batch: sp.csr_matrix  # (count, side*side) float32
    hidden: int  # the paper's hidden size for this data set (0 = model default)
    description: str = ""

    @property
    def pixels(self) -> int:
        return self.side * self.side


# side, hidden size from the paper (D/H = 50176/256, 1048576/512, 262144/512)
PUBLISHED = {"imagenet": (224, 256), "nih-cxr": (1024, 512), "luna16": (512, 512)}


def synthetic_images(name: str, side: int, count: int = 32, density: float = 0.1, seed: int = 0,
                     hidden: int = 0) -> Images:
    """Random sparse images: ``density`` of the pixels lit with values in (0, 1]."""
    rng = np.random.default_rng(seed)
    d = side * side
    nnz = max(1, int(round(density * d)))
    rows = np.repeat(np.arange(count), nnz)
    cols = np.concatenate([rng.choice(d, nnz, replace=False) for _ in range(count)])
    vals = rng.random(count * nnz, dtype=np.float32) * 0.999 + 0.001
    m = sp.csr_matrix((vals, (rows, cols)), shape=(count, d), dtype=np.float32)
    return Images(name, side, m, hidden,
                  f"synthetic {side}x{side} images, {count} per batch, {density:.0%} pixels lit, seed {seed}")


def published(name: str, seed: int = 0) -> Images:
    side, hidden = PUBLISHED[name]
    return synthetic_images(name, side, seed=seed, hidden=hidden)


def load_folder(path: str | Path, side: int | None = None, count: int = 32) -> Images:
    """Up to ``count`` images of a folder (.png/.jpg/... via Pillow if installed, .npy
    always), as grayscale in [0, 1], resized (Pillow) or checked to ``side``."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".npy", ".png", ".jpg", ".jpeg", ".bmp",
                                                                       ".tif", ".tiff", ".pgm"))[:count]
    if not files:
        raise DataError(f"no images (.npy, .png, .jpg, ...) in {folder}")
    arrays = [_read(p, side) for p in files]
    s = arrays[0].shape[0]
    for p, a in zip(files, arrays, strict=False):
        if a.shape != (s, s):
            raise DataError(f"image {p.name} is {a.shape[0]}x{a.shape[1]}, expected {s}x{s} (square, same size)")
    m = sp.csr_matrix(np.stack([a.reshape(-1) for a in arrays]).astype(np.float32))
    return Images(f"images:{folder}", s, m, 0, f"{len(files)} images from {folder}, {s}x{s}")


def _read(p: Path, side: int | None) -> np.ndarray:
    if p.suffix.lower() == ".npy":
        a = np.load(p).astype(np.float32)
        if a.ndim == 3:
            a = a.mean(axis=-1)
        if a.max(initial=0) > 1.0:
            a = a / 255.0
        if side is not None and a.shape != (side, side):
            raise DataError(f"{p.name} is {a.shape}, expected {side}x{side}")
        return a
    try:
        from PIL import Image
    except ImportError:
        raise DataError(f"reading {p.suffix} images needs Pillow (pip install pillow); .npy works without") from None
    img = Image.open(p).convert("L")
    if side is not None:
        img = img.resize((side, side))
    return np.asarray(img, dtype=np.float32) / 255.0
