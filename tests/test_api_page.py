"""The API page (book/api.md) documents exactly the reader-facing modules of helpers."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from helpers.environment import prepare

ENV = prepare(seed=0)  # the backend conftest.py chose: helpers modules import Keras

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
# Internal: the input rules (the page names them in its opening paragraph) and private modules.
INTERNAL = {"helpers.checks"}


def documented() -> dict[str, set[str]]:
    """Each ``automodule`` of the page and the names of its ``:members:`` line."""
    modules: dict[str, set[str]] = {}
    for match in re.finditer(r"\.\. automodule:: (\S+)\n((?:   :\w[\w-]*:.*\n)*)", PAGE):
        members = re.search(r":members:(.*)", match.group(2))
        modules[match.group(1)] = (
            {name.strip() for name in members.group(1).split(",") if name.strip()}
            if members else set()
        )
    return modules


def reader_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        name = ".".join(parts)
        if name != "helpers" and name not in INTERNAL:
            names.append(name)
    return names


def test_the_page_has_a_section_for_every_reader_module_and_no_other():
    assert set(documented()) == set(reader_modules())


@pytest.mark.parametrize("name", reader_modules())
def test_every_public_function_and_class_of_a_module_is_on_the_page(name):
    module = importlib.import_module(name)
    own = {
        attribute for attribute, value in vars(module).items()
        if not attribute.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == name
    }
    members = documented()[name]
    assert own <= members, f"{name}: not on the API page: {sorted(own - members)}"
    missing = {member for member in members if not hasattr(module, member)}
    assert not missing, f"{name}: the API page lists names the module lacks: {sorted(missing)}"
