"""The chapters as a reader sees them in JupyterLab (``make lab``): a real JupyterLab server on
127.0.0.1 with jupyterlab-myst, driven by Debian's Chromium.

Jupyter Book is not JupyterLab: a substitution, a Sphinx role or a citation key that the
website resolves can show raw in JupyterLab. These tests open chapters as a new reader would
and fail on any such marker, and on a number the prose quotes that is not shown.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests import test_site

pytestmark = pytest.mark.browser
browser = test_site.browser  # the same Chromium fixture as the website's tests

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["01_background", "03_algorithms", "04_4_conditional_gan", "06_1_faq"]
RAW_MARKERS = ["{{", "}}", "{doc}", "{term}", "{eval}", "{cite}", "{glue", "{func}", "glued."]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    """A JupyterLab server over the repository, as ``make lab`` starts it, with a clean profile."""
    home = tmp_path_factory.mktemp("lab")
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell, not only those scrolled into view, so the whole chapter can be read.
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_DATA_DIR=str(home / "data"))
    command = [
        str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.root_dir={ROOT}",
        "--IdentityProvider.token=", "--ServerApp.password=",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urlopen(f"{url}/api/status", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer on {url}; see {home / 'server.log'}")
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(home / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _bib_keys() -> list[str]:
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    return re.findall(r"@\w+\{([^,\s]+),", text)


def _stored_expressions(chapter: str) -> list[str]:
    notebook = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    return [
        entry["result"]["data"]["text/plain"]
        for cell in notebook["cells"]
        for entry in cell.get("metadata", {}).get("user_expressions", [])
    ]


def _rendered_prose(browser, url: str, chapter: str, tmp_path: Path):
    context = browser.new_context(viewport={"width": 1200, "height": 1600})
    page = context.new_page()
    page.goto(f"{url}/lab/tree/book/{chapter}.ipynb?reset")
    page.wait_for_selector(".jp-MarkdownCell .myst", timeout=90_000)
    cells = page.locator(".jp-MarkdownCell")
    total = cells.count()
    # jupyterlab-myst renders each Markdown cell on its own; wait until all have rendered.
    deadline = time.monotonic() + 60
    while page.locator(".jp-MarkdownCell .myst").count() < total and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    prose = page.evaluate(
        "() => Array.from(document.querySelectorAll('.jp-MarkdownCell .myst'))"
        ".map(node => node.innerText)"
    )
    page.screenshot(path=str(tmp_path / f"{chapter}.png"))
    popup = page.get_by_text("official Jupyter news").count()
    context.close()
    return total, prose, popup


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_reads_in_jupyterlab_as_on_the_website(browser, lab_url, chapter, tmp_path):
    total, prose, popup = _rendered_prose(browser, lab_url, chapter, tmp_path)
    assert total > 5 and len(prose) == total, (
        f"{chapter}: {len(prose)} of {total} Markdown cells rendered by jupyterlab-myst"
    )
    text = "\n".join(prose)
    raw = {marker: text.count(marker) for marker in RAW_MARKERS if marker in text}
    assert not raw, f"{chapter} shows raw MyST/Sphinx markup in JupyterLab: {raw}"
    keys = [key for key in _bib_keys() if key in text]
    assert not keys, f"{chapter} shows citation keys instead of citations: {keys}"
    assert "**Run time.**" not in text and "Run time. Measured run time:" in text.replace(
        "\n", " "
    ), f"{chapter}: the run-time line is missing or unrendered"
    # Every number the prose quotes is shown, from the values stored with its cells.
    flattened = " ".join(text.split())
    missing = [value for value in _stored_expressions(chapter)
               if " ".join(value.split()) not in flattened]
    assert not missing, f"{chapter}: quoted values not shown in JupyterLab: {missing[:5]}"
    assert popup == 0, "JupyterLab greets the reader with the Jupyter news pop-up"
