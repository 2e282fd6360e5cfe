"""Numbers in the prose: the same text on the website and in JupyterLab.

A chapter's prose quotes numbers its code computed. A code cell records each one with
:func:`glue` (MyST-NB's ``glue``, which the website reads), and a Markdown cell writes
``{eval}`glued.name``` where the number goes. Both renderers then show the same text:

- the website (Jupyter Book) pastes the value glued under ``name`` in the committed outputs
  (``booktools.sphinx_prose`` maps the ``eval`` role onto MyST-NB's ``glue:text``);
- JupyterLab (jupyterlab-myst) shows the value stored with the Markdown cell
  (``booktools.expressions`` stores it from the same outputs), and once you run the cells,
  the value your own run computed: running a Markdown cell evaluates ``glued.name`` in the
  kernel, which is an object of this module.

``glued.of("04_3_gan", "name")`` quotes a number another chapter glued, from that chapter's
committed outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from IPython.core.formatters import PlainTextFormatter
from myst_nb import glue as _myst_glue
from myst_nb.core.variables import format_plain_text

BOOK = Path(__file__).resolve().parents[1] / "book"
_PLAIN = PlainTextFormatter()


class Text(str):
    """A glued value as the page shows it; its repr is the text itself, without quotes."""

    def __repr__(self) -> str:
        return str(self)


def as_text(value: object) -> Text:
    """``value`` as MyST-NB's ``glue:text`` shows it (its plain-text repr, quotes removed)."""
    return Text(format_plain_text(_PLAIN(value), ""))


def committed_values(notebook: str | os.PathLike) -> dict[str, Text]:
    """Every value a notebook's committed outputs glued, by name, as the page shows it.

    ``notebook`` is a path, or a chapter's name such as ``"04_3_gan"`` (looked up in the
    book's folder).
    """
    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = BOOK / f"{path.name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}: expected a chapter such as '04_3_gan'")
    values: dict[str, Text] = {}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record is None:
                continue
            plain = output["data"].get(f"{record['mime_prefix']}text/plain")
            if plain is not None:
                values[record["name"]] = Text(format_plain_text(plain, ""))
    return values


class Glued:
    """The values this kernel has glued, by attribute: ``glued.name``.

    A name not glued yet (the prose can quote a number that a cell further down computes)
    falls back to the value in the notebook's committed outputs, when JupyterLab says which
    notebook this kernel runs (``JPY_SESSION_NAME``); otherwise it is an error that says to
    run the cell that computes it first.
    """

    def __init__(self) -> None:
        self._values: dict[str, Text] = {}

    def record(self, name: str, value: object) -> Text:
        text = as_text(value)
        self._values[name] = text
        return text

    def __getattr__(self, name: str) -> Text:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        session = Path(os.environ.get("JPY_SESSION_NAME", ""))
        if session.suffix == ".ipynb" and (BOOK / session.name).is_file():
            committed = committed_values(session.stem)
            if name in committed:
                return committed[name]
        raise AttributeError(
            f"no value glued as {name!r} yet in this kernel: run the code cell that computes "
            "it, then this Markdown cell again"
        )

    def __dir__(self) -> list[str]:
        return sorted(self._values)

    def of(self, notebook: str, name: str) -> Text:
        """The value chapter ``notebook`` (e.g. ``"04_3_gan"``) glued as ``name``."""
        values = committed_values(notebook)
        if name not in values:
            raise KeyError(f"{notebook} glues no value named {name!r}; it glues {sorted(values)}")
        return values[name]


#: This kernel's glued values; the chapters' prose reads them as ``{eval}`glued.name```.
glued = Glued()


def glue(name: str, value: object, display: bool = False) -> None:
    """MyST-NB's ``glue``, and remember the value so ``glued.name`` shows it in JupyterLab."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a glued name must be a Python identifier, got {name!r}")
    glued.record(name, value)
    _myst_glue(name, value, display=display)
