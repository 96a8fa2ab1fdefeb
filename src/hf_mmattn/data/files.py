"""What the dataset loaders share about the paths they are given: an error that names the
missing file or folder and what it should have held."""

from __future__ import annotations

import os


def require_file(path, what: str) -> str:
    """``path`` as a string, or ``FileNotFoundError("<what> file not found: <path>")``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file not found: {path}")
    return path


def require_dir(path, what: str) -> str:
    """``path`` as a string, or ``FileNotFoundError("<what> directory not found: <path>")``."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what} directory not found: {path}")
    return path


__all__ = ["require_dir", "require_file"]
