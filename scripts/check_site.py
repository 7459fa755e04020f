"""Checks the built documentation site (scripts/build_site.sh; docs/site.md says what is checked).

    python scripts/check_site.py --html-only [--site site]      # CI: parses the HTML, no browser
    python scripts/check_site.py [--site site] [--shots DIR]    # also in headless Chromium

From the HTML alone, on every page: each <img> points at a file of the site that is not empty (or
at a non-empty data: URI), and each script and stylesheet is served from the site itself (no
CDN, so it works offline). On each tutorial page (one per tutorials/NN_*.py, none missing): no
output cell shows an error, a traceback or a warning; no raw $...$ math is left in the text outside
code; a tutorial that draws a figure shows at least one. On the equations page: every
`dmf_np.module.function` is a link to its docstring.

In the browser (Debian's chromium, driven by playwright, serving the site on 127.0.0.1 only and
refusing every other address): on each tutorial page every image has loaded (naturalWidth > 0),
MathJax has rendered the math (mjx-container elements, no $ or \\( delimiters left in the text),
no error cells, no failed request and no console error. Screenshots of tutorial 4's page are saved
(the whole page in pieces, and each figure) to --shots, which is printed.

Exit status 0 when every check passes; otherwise each failure is printed and the status is 1.
"""
from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import json
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL_GLOB = "[0-9][0-9]_*.py"
DRAWS_A_FIGURE = re.compile(r"show_and_save\(|\.savefig\(")
FAST_BANNER_CLASS = "dmf-fast-banner"  # stage.py's FAST_BANNER_CELL
ERROR_CLASSES = {"traceback", "stderr"}  # myst-nb's classes for error outputs and the stderr stream
SKIP_TEXT_IN = {"pre", "code", "script", "style", "math", "mjx-container", "textarea"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# tags that end a run of prose: text on either side of them is not one word
BLOCK = {"p", "div", "li", "td", "th", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd",
         "section", "article", "blockquote", "figure", "figcaption", "caption", "nav", "aside"}
EM_OPEN, EM_CLOSE = "\x01", "\x02"   # where <em> starts and ends, in Page.prose

# math that MathJax never saw: raw TeX commands and delimiters, TeX scripts, dollar signs, and
# emphasis that markdown made of the underscores of h^x_l (h^x<em>l + W</em>l)
RAW_TEX = re.compile(r"\\(?:[A-Za-z]{2,}|[()\[\]])")
TEX_SCRIPT = re.compile(r"[\^_]\{")
EATEN_EMPHASIS = re.compile(
    rf"[\w}}^)\]]{EM_OPEN}"                        # <em> glued to the end of a word: h^x<em>
    rf"|{EM_OPEN}[^{EM_CLOSE}]*[\^{{}}][^{EM_CLOSE}]*{EM_CLOSE}"  # TeX scripts inside the emphasis
    rf"|{EM_CLOSE}[\w{{^]")                         # </em> glued to the next word: </em>l


class Page(html.parser.HTMLParser):
    """What the checks need from one page: images, scripts, stylesheets, output cells, loose text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images, self.scripts, self.styles = [], [], []
        self.error_outputs: list[str] = []   # text of output cells marked traceback/stderr
        self.outputs: list[str] = []         # text of every output cell
        self.loose_text: list[str] = []      # prose text, outside code, pre and math
        self.code_literals: list[tuple[str, bool]] = []  # (text of <code>, inside a link?)
        self.math = 0
        self.prose = ""                      # the loose text in order, <em> marked, blocks on new lines
        self.classes: set[str] = set()       # every class on the page
        self.downloads: list[str] = []       # href of each download link (Sphinx's a.download)
        self.links: list[str] = []           # href of every link
        self._stack: list[tuple[str, set[str]]] = []
        self._output_depth = None
        self._error_output = False
        self._code_text = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and "stylesheet" in (a.get("rel") or ""):
            self.styles.append(a.get("href") or "")
        self.classes |= classes
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "a" and "download" in classes:
            self.downloads.append(a.get("href") or "")
        if tag in VOID:
            return
        if tag in BLOCK:
            self.prose += "\n"
        if tag == "em" and not self._skipping():
            self.prose += EM_OPEN
        if "math" in classes:
            self.math += 1
        if tag == "code":
            self._code_text = []
        if self._output_depth is None and "output" in classes:
            self._output_depth = len(self._stack)
            self._error_output = bool(classes & ERROR_CLASSES)
            self.outputs.append("")
        self._stack.append((tag, classes))

    def handle_endtag(self, tag):
        if tag in VOID or not self._stack:
            return
        if tag in BLOCK:
            self.prose += "\n"
        if tag == "em" and not self._skipping():
            self.prose += EM_CLOSE
        # pop to the matching tag (HTML in the wild is not always well nested)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break
        if tag == "code" and self._code_text is not None:
            linked = any(t == "a" for t, _ in self._stack)
            self.code_literals.append(("".join(self._code_text), linked))
            self._code_text = None
        if self._output_depth is not None and len(self._stack) <= self._output_depth:
            if self._error_output:
                self.error_outputs.append(self.outputs[-1])
            self._output_depth, self._error_output = None, False

    def handle_data(self, data):
        if self._code_text is not None:
            self._code_text.append(data)
        if self._output_depth is not None:
            self.outputs[-1] += data
            return
        if not self._skipping():
            self.prose += data
            if data.strip():
                self.loose_text.append(data)

    def _skipping(self) -> bool:
        # code, math, highlighted blocks and API signatures (sig, sig-param: Python, not prose)
        return any(t in SKIP_TEXT_IN or c & {"math", "sig", "sig-param"} or "highlight" in c for t, c in self._stack)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def local_target(page_path: Path, url: str) -> Path | None:
    """The file of the site a relative URL points at (None for an absolute URL)."""
    parsed = urlparse(url)
    if parsed.scheme or parsed.netloc:
        return None
    return (page_path.parent / unquote(parsed.path)).resolve()


def tutorial_pages(site: Path) -> list[tuple[Path, Path]]:
    return [(t, site / "tutorials" / f"{t.stem}.html") for t in sorted((ROOT / "tutorials").glob(TUTORIAL_GLOB))]


def check_html(site: Path) -> list[str]:
    failures = []
    pages = sorted(site.rglob("*.html"))
    if not (site / "index.html").is_file():
        return [f"{site}/index.html: missing (is the site built? scripts/build_site.sh --fast)"]
    for path in pages:
        rel = path.relative_to(site)
        page = parse(path)
        for src in page.images:
            if src.startswith("data:"):
                if len(src.split(",", 1)[-1]) < 16:
                    failures.append(f"{rel}: an image with an empty data: URI")
                continue
            target = local_target(path, src)
            if target is None:
                failures.append(f"{rel}: image {src} is not served from the site")
            elif not target.is_file() or target.stat().st_size == 0:
                failures.append(f"{rel}: image {src} is missing or empty")
        for url in page.scripts + page.styles:
            target = local_target(path, url)
            if target is None:
                failures.append(f"{rel}: {url} would be fetched from the network (the site must work offline)")
            elif not target.is_file():
                failures.append(f"{rel}: {url} is not in the site")
        failures += check_math_html(str(rel), page)
        for href in page.links:  # a cross-reference that points at no page of the site
            target = local_target(path, href)
            if target is not None and urlparse(href).path and not target.exists():
                failures.append(f"{rel}: link {href} points at nothing in the site")
    mode = build_mode(site)
    if mode is None:
        failures.append(f"{site}/build.json: missing or unreadable, so the build's mode (fast or full) is "
                        f"unknown (scripts/build_site.sh writes it)")
    for source, path in tutorial_pages(site):
        if not path.is_file():
            failures.append(f"tutorials/{source.name}: no page {path.relative_to(site)}")
            continue
        page = parse(path)
        failures += check_tutorial_html(source, path, page)
        failures += check_tutorial_extras(path, page, mode)
    failures += check_equation_links(site)
    return failures


def check_tutorial_html(source: Path, path: Path, page: Page) -> list[str]:
    rel, failures = f"tutorials/{path.name}", []
    for text in page.error_outputs:
        failures.append(f"{rel}: an output cell shows an error or stderr: {text.strip()[:300]!r}")
    for text in page.outputs:
        if "Traceback (most recent call last)" in text or re.search(r"^\w*Error: ", text, re.M):
            failures.append(f"{rel}: an output cell shows a traceback: {text.strip()[-300:]!r}")
    if "$" in source.read_text() and page.math == 0:
        failures.append(f"{rel}: the tutorial has $...$ math but the page has no math elements")
    if DRAWS_A_FIGURE.search(source.read_text()) and not page.images:
        failures.append(f"{rel}: {source.name} draws a figure but its page shows none "
                        f"(a figure shows on the page when the tutorial calls dmf_np.plots.show_and_save)")
    return failures


def build_mode(site: Path) -> str | None:
    """'fast' or 'full', as scripts/build_site.sh recorded it in build.json (None if it did not)."""
    try:
        mode = json.loads((site / "build.json").read_text()).get("mode")
    except (OSError, ValueError, AttributeError):
        return None
    return mode if mode in ("fast", "full") else None


def check_tutorial_extras(path: Path, page: Page, mode: str | None) -> list[str]:
    """A fast build's banner on every tutorial page of a fast build and on none of a full one, and
    the page's download buttons for its notebook and its script, each a file of the site."""
    rel, failures = f"tutorials/{path.name}", []
    banner = FAST_BANNER_CLASS in page.classes
    if mode == "fast" and not banner:
        failures.append(f"{rel}: a fast build's page without the banner that says its numbers are smoke-test "
                        f"sized (stage.py --fast adds it)")
    if mode == "full" and banner:
        failures.append(f"{rel}: a full build's page carries the fast-mode banner")
    for suffix in (".ipynb", ".py"):
        links = [href for href in page.downloads if urlparse(href).path.endswith(path.stem + suffix)]
        if not links:
            failures.append(f"{rel}: no download button for {path.stem}{suffix}")
        for href in links:
            target = local_target(path, href)
            if target is None or not target.is_file() or target.stat().st_size == 0:
                failures.append(f"{rel}: download {href} is missing or empty")
    return failures


def check_math_html(rel: str, page: Page) -> list[str]:
    """Math left as text in the prose (outside code and outside the math MathJax renders): a $,
    a TeX command or delimiter, ^{ or _{, or underscores that markdown turned into emphasis; and
    math on a page that does not load the site's own MathJax."""
    failures = []
    prose = page.prose
    def shown(i: int, j: int) -> str:
        text = prose[max(0, i - 30):j + 30].replace(EM_OPEN, "<em>").replace(EM_CLOSE, "</em>")
        return " ".join(text.split())

    # a $ that is not an environment variable's ($DMF_BACKEND: the site's MathJax reads only \( \))
    for what, pattern in (("a $ of unrendered math", re.compile(r"\$(?![A-Z][A-Z0-9_]+\b)")), ("raw TeX", RAW_TEX),
                          ("a TeX superscript or subscript ^{ _{", TEX_SCRIPT),
                          ("underscores eaten into emphasis", EATEN_EMPHASIS)):
        for m in pattern.finditer(prose):
            failures.append(f"{rel}: math left unrendered ({what}): {shown(m.start(), m.end())!r}")
    local_mathjax = [src for src in page.scripts if not urlparse(src).scheme and not urlparse(src).netloc
                     and urlparse(src).path.endswith("mathjax/tex-chtml.js")]
    if page.math and not local_mathjax:
        failures.append(f"{rel}: {page.math} math elements but MathJax is not loaded from the site itself "
                        f"(the site must work offline)")
    return failures


def check_equation_links(site: Path) -> list[str]:
    path = site / "equations.html"
    if not path.is_file():
        return ["equations.html: missing"]
    names = [(text, linked) for text, linked in parse(path).code_literals if text.startswith("dmf_np.")]
    if not names:
        return ["equations.html: no dmf_np.* functions found"]
    return [f"equations.html: {text} is not a link to its docstring" for text, linked in names if not linked]


# --- in the browser -------------------------------------------------------------------------------

PAGE_REPORT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await document.fonts.ready;
  const article = document.querySelector('article') || document.body;
  const images = [...document.images].map(img => ({src: img.getAttribute('src'),
                                                    ok: img.complete && img.naturalWidth > 0,
                                                    width: img.naturalWidth}));
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const loose = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (el.closest('pre, code, script, style, mjx-container, .highlight, .cell_output, .sig')) continue;
    const t = node.textContent;
    // $ (not $ENV_VAR), \\( \\[, a TeX command, ^{ or _{
    const raw = /\\$(?![A-Z][A-Z0-9_]+\\b)|\\\\[()\\[\\]]|\\\\[A-Za-z]{2,}|[\\^_]\\{/;
    if (raw.test(t)) loose.push(t.trim().slice(0, 120));
  }
  // a formula MathJax could not typeset: an error box (merror, holding the message), or an undefined
  // macro, which MathJax's noundefined package shows as red text (an mtext with mathcolor red)
  const texErrors = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) {
      let found = null;
      item.root.walkTree(node => {
        if (found) return;
        if (node.isKind('merror')) found = node.attributes.get('data-mjx-error') || 'TeX error';
        else if (node.isKind('mtext') && node.attributes.get('mathcolor') === 'red') found = 'undefined macro';
      });
      if (found) texErrors.push(found + ' in: ' + item.math.slice(0, 120));
    }
  }
  const errors = [...document.querySelectorAll('.output.traceback, .output.stderr')]
      .map(e => e.innerText.slice(0, 300));
  const tracebacks = [...document.querySelectorAll('.cell_output')].map(e => e.innerText)
      .filter(t => t.includes('Traceback (most recent call last)'));
  return {images, loose, errors, tracebacks, texErrors, math: document.querySelectorAll('mjx-container').length,
          mathSource: document.querySelectorAll('span.math, div.math').length, height: document.body.scrollHeight};
}"""


def browser_pages(site: Path) -> list[Path]:
    """Every tutorial page, and every other page with math for MathJax to typeset."""
    tutorials = [path for _, path in tutorial_pages(site) if path.is_file()]
    with_math = [path for path in sorted(site.rglob("*.html")) if path not in tutorials and parse(path).math]
    return tutorials + with_math


def serve(site: Path):
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def check_browser(site: Path, shots: Path, chromium: str) -> list[str]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return ["the browser check needs playwright (pip install playwright) and Debian's chromium "
                "(apt-get install chromium); --html-only needs neither"]
    shots.mkdir(parents=True, exist_ok=True)
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    failures = []
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    try:
        with sync_playwright() as p:
            # launch_persistent_context: a fresh, empty profile (--user-data-dir) in the shots folder
            context = p.chromium.launch_persistent_context(
                str(shots / "profile"), executable_path=chromium, args=args, headless=True,
                viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))

            def only_local(route):
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    problems.append(f"request to the network refused: {route.request.url}")
                    route.abort()

            context.route("**/*", only_local)
            for path in browser_pages(site):
                rel = path.relative_to(site).as_posix()
                problems.clear()
                page.goto(base + rel, wait_until="networkidle")
                report = page.evaluate(PAGE_REPORT)
                bad = [i["src"] for i in report["images"] if not i["ok"]]
                failures += [f"{rel}: image did not load: {src}" for src in bad]
                if report["mathSource"] and not report["math"]:
                    failures.append(f"{rel}: MathJax rendered nothing ({report['mathSource']} math elements)")
                failures += [f"{rel}: math left unrendered: {t!r}" for t in report["loose"]]
                failures += [f"{rel}: MathJax could not typeset a formula: {t!r}" for t in report["texErrors"]]
                failures += [f"{rel}: error cell: {t!r}" for t in report["errors"] + report["tracebacks"]]
                failures += [f"{rel}: {t}" for t in problems]
                n_errors = len(report["errors"]) + len(report["tracebacks"])
                print(f"  {rel}: {len(report['images'])} images ({len(report['images']) - len(bad)} loaded, widths "
                      f"{[i['width'] for i in report['images']]}), {report['math']} formulas rendered by MathJax, "
                      f"{n_errors} error cells, page {report['height']} px high")
                if path.name.startswith("04_"):
                    save_screenshots(page, report["height"], shots)
            context.close()
    finally:
        server.shutdown()
    return failures


def save_screenshots(page, height: int, shots: Path, piece: int = 2000) -> None:
    """Tutorial 4's page: the whole page in pieces of ``piece`` pixels, and each figure alone."""
    for i, top in enumerate(range(0, height, piece)):
        page.screenshot(path=str(shots / f"04_page_{i:02d}.png"), full_page=True,
                        clip={"x": 0, "y": top, "width": 1280, "height": min(piece, height - top)})
    for i, img in enumerate(page.locator("article img").all()):
        img.scroll_into_view_if_needed()
        img.screenshot(path=str(shots / f"04_figure_{i}.png"))
    for i, math in enumerate(page.locator("mjx-container[display='true']").all()[:3]):
        math.screenshot(path=str(shots / f"04_display_math_{i}.png"))


FIG2_STATE = """() => {
  const root = document.getElementById('fig2-interactive');
  const lit = [...root.querySelectorAll('polyline.fig2-path')];
  const share = Object.fromEntries(lit.map(p => [p.dataset.route, parseFloat(p.dataset.share)]));
  return {routes: lit.map(p => p.dataset.route).sort(), shares: Object.values(share),
          labels: [...root.querySelectorAll('text.fig2-label')].map(t => t.dataset.route + ' ' + t.textContent).sort(),
          mislabelled: [...root.querySelectorAll('text.fig2-label')].filter(t => !(t.dataset.route in share) ||
              Math.abs(parseFloat(t.textContent.replace('\u2212', '-')) - 100 * share[t.dataset.route]) > 0.051)
              .map(t => t.dataset.route + ' ' + t.textContent),
          rows: root.querySelectorAll('.fig2-table tr[data-route]').length,
          selected: (root.querySelector('.fig2-selected') || {dataset: {}}).dataset.layer};
}"""


def check_fig2(site: Path, shots: Path, chromium: str) -> list[str]:
    """The interactive Fig. 2 (docs/fig2_interactive.md) in Chromium: click layers, networks and the
    weights' stage, and fail unless each click changes the lit learning paths (or their labels), every
    lit path has a share label and a table row, and a layer's shares add up to 100%."""
    import tempfile

    try:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []  # check_browser has said what to install

    rel = "docs/fig2_interactive.html"
    if not (site / rel).is_file():
        return [f"{rel}: missing (docs/fig2_interactive.md)"]
    server, failures, problems = serve(site), [], []
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    # (what to click, what must have changed), in order; the page opens on DMF's input h^x_1
    clicks = [(None, None), ("[data-layer='x2']", "routes"), ("button[data-scheme='imf']", "routes"),
              ("[data-layer='x1']", "routes"), ("button[data-scheme='emf']", "routes"),
              ("[data-layer='s2']", "routes"), ("[data-layer='y1']", "routes"),
              ("button[data-scheme='dmf']", "routes"), ("button[data-stage='init']", "labels")]
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:  # a fresh profile
            context = p.chromium.launch_persistent_context(profile, executable_path=chromium, args=args,
                                                           headless=True, viewport={"width": 1280, "height": 1000})

            def only_local(route):  # the figure must work offline: no request leaves the site
                if route.request.url.startswith(base):
                    return route.continue_()
                problems.append(f"request to the network refused: {route.request.url}")
                route.abort()

            context.route("**/*", only_local)
            page = context.new_page()
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
            page.goto(base + rel, wait_until="networkidle")
            try:
                page.wait_for_selector("#fig2-interactive polyline.fig2-path", timeout=10_000)
            except PlaywrightTimeout:
                clicks = []  # nothing to click
                failures.append(f"{rel}: the figure drew no learning path in 10 s")
            before = None
            for i, (selector, changes) in enumerate(clicks):
                if selector:
                    page.click(f"#fig2-interactive {selector}")
                state = page.evaluate(FIG2_STATE)
                what = f"{rel} after clicking {selector or 'nothing'}"
                if not state["routes"]:
                    failures.append(f"{what}: no learning path is lit")
                if not len(state["routes"]) == len(state["labels"]) == state["rows"]:
                    failures.append(f"{what}: {len(state['routes'])} lit paths, {len(state['labels'])} share labels, "
                                    f"{state['rows']} table rows")
                if state["mislabelled"]:
                    failures.append(f"{what}: labels that do not show their path's share: {state['mislabelled']}")
                if abs(sum(state["shares"]) - 1) > 1e-3:
                    failures.append(f"{what}: the shares add up to {sum(state['shares']):.4f}, not 1")
                if before is not None and state[changes] == before[changes]:
                    failures.append(f"{what}: the lit paths' {changes} did not change: {state[changes]}")
                print(f"  {rel}: {selector or 'opened'} -> layer {state['selected']}: {state['labels']}")
                page.locator("#fig2-interactive").screenshot(path=str(shots / f"fig2_{i}.png"))
                before = state
            context.close()
    finally:
        server.shutdown()
    return failures + [f"{rel}: {t}" for t in problems]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--html-only", action="store_true", help="no browser (what CI runs)")
    parser.add_argument("--shots", type=Path, default=Path("/tmp/dmf_np-site-shots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    failures = check_html(site)
    n = len(tutorial_pages(site))
    print(f"HTML checks of {site}: {len(failures)} failures ({n} tutorial pages)")
    if not args.html_only:
        print(f"browser checks (chromium at {args.chromium}):")
        browser = check_browser(site, args.shots, args.chromium)
        browser += check_fig2(site, args.shots, args.chromium)
        failures += browser
        print(f"browser checks: {len(browser)} failures; screenshots of tutorial 4 in {args.shots}")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
