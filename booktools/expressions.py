"""Store, with each Markdown cell, the numbers its prose quotes, so JupyterLab shows them.

A chapter's prose writes ``{eval}`glued.name``` (or ``{eval}`glued.of("04_3_gan", "name")```
for another chapter's number; see :mod:`helpers.prose`). jupyterlab-myst shows such an inline
expression from the cell's ``metadata.user_expressions`` until the reader runs the cell, so
this module writes that metadata from the values the notebook's committed outputs glued: the
same values the website pastes. Run it after every execution (``make execute`` does);
``--check`` fails on a stored value that differs from the outputs, an expression the book does
not support, or a name no output glued (a unit test runs the check over every chapter).

    python -m booktools.expressions [--check] [book/01_background.ipynb ...]
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

from booktools.notebooks import read, write
from helpers.prose import BOOK, committed_values

ROLE = re.compile(r"\{eval\}`([^`]+)`")
_OWN = re.compile(r"glued\.([A-Za-z_][A-Za-z0-9_]*)")
_OTHER = re.compile(r'glued\.of\("([0-9A-Za-z_]+)", "([A-Za-z_][A-Za-z0-9_]*)"\)')


def parse(expression: str) -> tuple[str | None, str]:
    """``(notebook, name)`` for ``glued.name`` (notebook ``None``: this chapter's own) or
    ``glued.of("notebook", "name")``; any other expression is a ``ValueError``."""
    own = _OWN.fullmatch(expression)
    if own:
        return None, own.group(1)
    other = _OTHER.fullmatch(expression)
    if other:
        return other.group(1), other.group(2)
    raise ValueError(
        f"unsupported inline expression {expression!r}: the book's prose writes "
        '`glued.name` or `glued.of("04_3_gan", "name")`'
    )


def _with_expressions(path: Path) -> tuple[dict, dict, list[str]]:
    """The notebook as committed, the same with every Markdown cell's ``user_expressions``
    set from its glued outputs, and the problems found."""
    current = read(path)
    updated = copy.deepcopy(current)
    values = {None: committed_values(path)}
    problems: list[str] = []
    for index, cell in enumerate(updated["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        entries: list[dict] = []
        for expression in dict.fromkeys(ROLE.findall("".join(cell["source"]))):
            try:
                chapter, name = parse(expression)
            except ValueError as exc:
                problems.append(f"{path.name}, cell {index}: {exc}")
                continue
            if chapter not in values:
                try:
                    values[chapter] = committed_values(chapter)
                except FileNotFoundError as exc:
                    problems.append(f"{path.name}, cell {index}: {expression}: {exc}")
                    continue
            if name not in values[chapter]:
                problems.append(
                    f"{path.name}, cell {index}: {expression} quotes {name!r}, which no output "
                    f"of {chapter or path.stem} glues"
                )
                continue
            entries.append({
                "expression": expression,
                "result": {
                    "data": {"text/plain": str(values[chapter][name])},
                    "metadata": {},
                    "status": "ok",
                },
            })
        if entries:
            cell.setdefault("metadata", {})["user_expressions"] = entries
        else:
            cell.get("metadata", {}).pop("user_expressions", None)
    return current, updated, problems


def check(path: Path) -> list[str]:
    """What is wrong with the stored expressions of one notebook (empty: nothing)."""
    current, updated, problems = _with_expressions(path)
    for index, (old, new) in enumerate(zip(current["cells"], updated["cells"], strict=True)):
        if old != new:
            problems.append(
                f"{path.name}, cell {index}: stored user_expressions differ from the values its "
                "outputs glue; run `python -m booktools.expressions` on it"
            )
    return problems


def update(path: Path) -> list[str]:
    """Write every Markdown cell's ``user_expressions``; return the problems found."""
    _, updated, problems = _with_expressions(path)
    write(path, updated)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    parser.add_argument("notebooks", nargs="*", type=Path)
    arguments = parser.parse_args(argv)
    paths = arguments.notebooks or sorted(BOOK.glob("*.ipynb"))
    problems: list[str] = []
    for path in paths:
        problems += check(path) if arguments.check else update(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
