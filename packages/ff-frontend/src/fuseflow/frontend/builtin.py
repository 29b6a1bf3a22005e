"""ff-frontend's built-in plugin: registers its pieces through the fuseflow hooks."""

from __future__ import annotations
