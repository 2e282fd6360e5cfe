"""Reading and writing the book's notebooks in the one format they are committed in."""

from __future__ import annotations

import json
from pathlib import Path


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(path: Path, notebook: dict) -> None:
    """Write ``notebook`` as nbconvert does (sorted keys, one-space indent), so diffs stay small."""
    text = json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")
