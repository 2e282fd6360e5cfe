"""The built website in a real browser: Debian's Chromium driven by Playwright.

Run after `jupyter-book build .` (``make site``); ``make test`` does both in order. Pages are
served on 127.0.0.1 and any request to another host is blocked and reported as a failure.
Screenshots of every page land in ``_build/screenshots`` for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _toc_pages() -> list[str]:
    """Every page in _toc.yml, as the path of its HTML file."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return [f"{name}.html" for name in files]


PAGES = _toc_pages()
# Harmless messages that Jupyter Book 1's own scripts log on every page, known upstream:
# sphinx-thebe declares THEBE_JS_URL in two scripts, and pydata-sphinx-theme reports an empty
# colour mode on a first visit (nothing in localStorage yet) before falling back to "auto".
KNOWN_CONSOLE_ERRORS = [
    re.compile(r"THEBE_JS_URL.*(already been declared|redeclar)"),
    re.compile(r"^Got invalid theme mode: \. Resetting to auto\.$"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built site at {HTML}: run `make site` (or `make test`) first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's Chromium is needed for the browser tests and was not found at "
            f"{CHROMIUM}. Install it with `sudo apt-get install chromium` (.ci/run does this)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def _open(browser, url: str, width: int = 1280, height: int = 900):
    """Open ``url``; return the page, its console errors and any request that left 127.0.0.1."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda exception: errors.append(str(exception)))

    def route(request_route):
        host = urlparse(request_route.request.url).hostname
        if request_route.request.url.startswith("data:") or host == "127.0.0.1":
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    return context, page, errors, outside


def _raw_tex_in_prose(page) -> list[str]:
    """TeX commands still visible in the text (not code) once MathJax has run."""
    prose = page.evaluate(
        "Array.from(document.querySelectorAll('article p, article li, article dd'))"
        ".filter(e => !e.closest('.cell_output, .cell_input, pre, code'))"
        ".map(e => e.innerText).join(' ')"
    )
    return [raw for raw in (r"\frac", r"\sum", r"\log", r"\lVert", r"\mathrm", "$$")
            if raw in prose]


def _unexpected(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(known.search(e) for known in KNOWN_CONSOLE_ERRORS)]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_offline_with_images_and_no_errors(browser, site_url, path):
    context, page, errors, outside = _open(browser, f"{site_url}/{path}")
    try:
        assert page.locator("article h1").first.is_visible()
        assert outside == [], f"requests left 127.0.0.1: {outside}"
        assert _unexpected(errors) == [], f"console errors: {errors}"
        broken = page.evaluate(
            "Array.from(document.images)"
            ".filter(img => !(img.complete && img.naturalWidth > 0))"
            ".map(img => img.currentSrc || img.src)"
        )
        assert broken == [], f"images that did not load: {broken}"
        # myst-nb falls back to the file name as alt text; a reader needs a description
        # (set per cell with the metadata {"mystnb": {"image": {"alt": ...}}}).
        undescribed = page.evaluate(
            "Array.from(document.querySelectorAll('article img'))"
            ".filter(img => !img.closest('figure'))"
            ".filter(img => !img.alt || /\\.(png|svg|jpg)$/.test(img.alt))"
            ".map(img => img.getAttribute('src'))"
        )
        assert undescribed == [], f"images without alt text or caption: {undescribed}"
        page.wait_for_load_state("networkidle")
        assert _raw_tex_in_prose(page) == [], "raw TeX left in the prose"
        SHOTS.mkdir(parents=True, exist_ok=True)
        name = Path(path).stem
        page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=False)
    finally:
        context.close()
    context, page, _, _ = _open(browser, f"{site_url}/{path}", width=390, height=844)
    try:
        page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=False)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("chapter", "min_formulas", "min_figures"),
    [
        ("01_background", 4, 6), ("02_core_concepts", 1, 16), ("03_algorithms", 40, 9),
        ("03_4_building_blocks", 30, 4),
        ("04_2_rnn", 5, 4), ("04_3_gan", 2, 3), ("04_4_conditional_gan", 1, 3),
        ("05_2_interpretability_robustness", 4, 4), ("05_3_privacy", 10, 1),
        ("05_4_compute", 8, 2),
    ],
)
def test_chapter_typesets_its_maths_and_shows_its_figures(
    browser, site_url, chapter, min_formulas, min_figures
):
    context, page, errors, outside = _open(browser, f"{site_url}/book/{chapter}.html")
    try:
        page.wait_for_selector("mjx-container", state="attached", timeout=15_000)
        typeset = page.locator("mjx-container").count()
        assert typeset >= min_formulas, f"only {typeset} typeset formulas"
        assert _raw_tex_in_prose(page) == [], "raw TeX left in the prose"
        figures = page.evaluate(
            "Array.from(document.querySelectorAll('article img'))"
            ".filter(img => img.naturalWidth > 300).length"
        )
        assert figures >= min_figures, f"expected {min_figures} figures, found {figures}"
        assert outside == []
        assert _unexpected(errors) == []
        page.screenshot(path=str(SHOTS / f"{chapter}-full.png"), full_page=True)
    finally:
        context.close()


def test_reader_path_navigation_download_and_dark_mode(browser, site_url):
    context, page, errors, outside = _open(browser, f"{site_url}/book/01_background.html")
    try:
        previous = page.locator("a.left-prev").get_attribute("href")
        following = page.locator("a.right-next").get_attribute("href")
        assert previous.endswith("intro.html") and following, (previous, following)
        downloads = page.evaluate(
            "Array.from(document.querySelectorAll('a[href$=\".ipynb\"]')).map(a => a.href)"
        )
        assert any(href.endswith("01_background.ipynb") for href in downloads), downloads
        source = HTML / "_sources" / "book" / "01_background.ipynb"
        assert source.exists(), "the notebook offered for download is missing from the site"
        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        background = page.evaluate(
            "getComputedStyle(document.body).backgroundColor"
        )
        assert background != "rgb(255, 255, 255)", "dark theme did not change the background"
        page.locator("article img").nth(1).scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "01_background-dark.png"))
        assert outside == [] and _unexpected(errors) == []
    finally:
        context.close()


@pytest.mark.parametrize(
    ("term", "expected_page"),
    [("learning curve", "01_background.html"), ("cross-correlation", "03_algorithms.html")],
)
def test_search_finds_terms(browser, site_url, term, expected_page):
    context, page, errors, outside = _open(browser, f"{site_url}/search.html?q={term}")
    try:
        page.wait_for_selector("ul.search li", timeout=15_000)
        found = page.evaluate(
            "Array.from(document.querySelectorAll('ul.search li a')).map(a => a.href)"
        )
        assert any(expected_page in href for href in found), found
        assert outside == []
    finally:
        context.close()


def test_internal_links_resolve():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built site at {HTML}: run `make site` first")
    missing = []
    pages = [p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts]
    assert len(pages) >= len(PAGES)
    for page in pages:
        for target in re.findall(r'href="([^"#?]+)', page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("//"):
                continue
            if not (page.parent / target).resolve().exists():
                missing.append(f"{page.relative_to(HTML)} -> {target}")
    assert missing == [], "\n".join(missing)


def test_external_links_are_listed_and_no_resource_is_external():
    """External hyperlinks go to _build/external-links.txt for review; nothing is fetched.

    A page may link to another site, but may not load a script, style sheet, image or font
    from one: that would break the book offline.
    """
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built site at {HTML}: run `make site` first")
    links, embedded = set(), []
    for page in HTML.rglob("*.html"):
        if "_static" in page.relative_to(HTML).parts:
            continue
        text = page.read_text(encoding="utf-8")
        links.update(re.findall(r'<a [^>]*href="(https?://[^"]+)"', text))
        for tag in re.findall(r"<(?:script|img|iframe|source)[^>]*\ssrc=\"https?://[^\"]+\"", text):
            embedded.append(f"{page.relative_to(HTML)}: {tag}")
        for tag in re.findall(r"<link[^>]*rel=\"(?:stylesheet|preload|icon)\"[^>]*>", text):
            if re.search(r'href="https?://', tag):
                embedded.append(f"{page.relative_to(HTML)}: {tag}")
    listing = ROOT / "_build" / "external-links.txt"
    listing.write_text("".join(f"{url}\n" for url in sorted(links)), encoding="utf-8")
    assert embedded == [], "\n".join(embedded)


def test_every_chapter_uses_the_glossary_and_cites_a_source():
    """Chapters link a glossary term and cite at least one reference (issue: FAQ/glossary)."""
    chapters = [p for p in PAGES if re.match(r"book/\d\d_", p) and "glossary" not in p]
    assert chapters, PAGES
    lacking = []
    for path in chapters:
        text = (HTML / path).read_text(encoding="utf-8")
        if not re.search(r'href="[^"]*glossary\.html#term-', text):
            lacking.append(f"{path}: no glossary term")
        if not re.search(r'href="[^"]*references\.html#', text):
            lacking.append(f"{path}: no citation")
    assert lacking == [], lacking


def test_glossary_terms_are_all_used():
    """A glossary entry nobody links to is either missing from a chapter or not needed."""
    glossary = (HTML / "book" / "06_2_glossary.html").read_text(encoding="utf-8")
    terms = set(re.findall(r'<dt id="(term-[^"]+)"', glossary))
    assert len(terms) >= 20, terms
    used = set()
    for page in (HTML / path for path in PAGES if "glossary" not in path):
        used.update(re.findall(r'glossary\.html#(term-[^"]+)"', page.read_text(encoding="utf-8")))
    assert sorted(terms - used) == []


def test_run_times_page_shows_every_notebook_on_jax_and_pytorch():
    """The table of `make test-backends` is on the page, a row for every chapter."""
    page = HTML / "book" / "run_times.html"
    if not page.exists():
        pytest.fail(f"no built site at {HTML}: run `make site` first")
    text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    text = " ".join(text.split())
    assert "Every notebook on JAX and PyTorch" in text
    assert re.search(r"notebook (TensorFlow \( make bench \) )?JAX PyTorch", text)
    for notebook in sorted((ROOT / "book").glob("[0-9]*.ipynb")):
        assert re.search(rf"\b{notebook.stem} (passed|failed)", text), notebook.stem
    assert "{{" not in text, "a substitution was left unreplaced"
