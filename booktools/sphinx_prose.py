"""A Sphinx extension for prose that reads the same on the website and in JupyterLab.

**Numbers.** The prose's ``{eval}`glued.name``` pastes a glued value on the website.

The chapters write numbers as jupyterlab-myst inline expressions (see :mod:`helpers.prose`),
so that JupyterLab shows them. The website is built from committed outputs, without a kernel,
so MyST-NB's own ``eval`` role cannot run there; this extension replaces it with MyST-NB's
``glue:text`` for the two forms the book uses: ``glued.name`` pastes the value this notebook
glued as ``name``, ``glued.of("04_3_gan", "name")`` the one another chapter glued. Any other
expression is a build warning (an error under ``-W``).

**Citations.** A chapter cites as a Markdown link,
``([Dumoulin and Visin, 2016](references.md#cite-dumoulin2016guide))``, which JupyterLab shows
as it is; sphinxcontrib-bibtex gives each entry of the references page
the id ``cite-<key>`` (``bibtex_cite_id`` in ``_config.yml``), and this extension makes those
ids link targets for MyST, which otherwise accepts only headings after ``#``.
"""

from __future__ import annotations

from typing import Any

from myst_nb.ext.glue.roles import PasteTextRole
from myst_nb.ext.glue.utils import glue_warning

from booktools.expressions import parse


class GluedTextRole(PasteTextRole):
    """``{eval}`glued.name``` as ``{glue:text}`name```, ``glued.of(...)`` across notebooks."""

    def run(self):
        try:
            notebook, name = parse(self.text)
        except ValueError as exc:
            return [], [glue_warning(str(exc), self.document, self.line)]
        self.text = name if notebook is None else f"{notebook}.ipynb::{name}:s"
        return super().run()


def _replace_eval_role(app) -> None:
    # After every extension's setup, so that this replaces MyST-NB's kernel-only ``eval``.
    app.add_role("eval", GluedTextRole(), override=True)


CITATION_PREFIX = "cite-"


def _citations_as_link_targets(app, doctree) -> None:
    slugs = app.env.metadata[app.env.docname].setdefault("myst_slugs", {})
    for node_id in doctree.ids:
        if node_id.startswith(CITATION_PREFIX):
            slugs[node_id] = (0, node_id, node_id.removeprefix(CITATION_PREFIX))


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", _replace_eval_role)
    app.connect("doctree-read", _citations_as_link_targets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
