"""The documentation site (docs/site.md): its checks catch what they should, and the site built in
fast mode passes them.

The checks (scripts/check_site.py --html-only) are first tried on small pages made here, each with
one fault, so a passing site means something. Then the site is built with scripts/build_site.sh
--fast into a temporary folder (about two minutes on two cores; slow) and checked. Set
DMF_SITE_DIR to a site already built to check that one instead. Building needs the docs extra
(pip install -e ".[docs,tutorials]"); without it that test is skipped, saying so.
"""
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS_EXTRA = ("sphinx", "myst_nb", "furo", "sphinx-mathjax-offline", "jupytext", "nbclient", "ipykernel")

CLEAN = """<html><head><script src="../_static/mathjax/tex-chtml.js"></script></head><body><article>
<p>The error on <span class="math notranslate nohighlight">\\(s_l\\)</span> is Eq. 6.</p>
<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi notranslate">
<div class="highlight"><pre>dE/ds_2 = [0.1 0.2]  costs $0 to print</pre></div></div>
<img src="../_images/fig.png" alt="figure"/></div></article></body></html>"""


def make_site(root: Path, tutorial_html: str) -> Path:
    """A one-tutorial site shaped like the built one, every tutorial page given ``tutorial_html``."""
    site = root / "site"
    for name in ("_images", "_static/mathjax", "tutorials", "api"):
        (site / name).mkdir(parents=True)
    (site / "_images" / "fig.png").write_bytes(b"\x89PNG" + b"\0" * 100)
    (site / "_static" / "mathjax" / "tex-chtml.js").write_text("// MathJax")
    (site / "index.html").write_text("<html><body><p>home</p></body></html>")
    (site / "equations.html").write_text(
        '<html><body><a class="reference internal" href="api/x.html#dmf_np.layers.sigmoid">'
        '<code><span class="pre">dmf_np.layers.sigmoid</span></code></a></body></html>')
    for tutorial in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py")):
        (site / "tutorials" / f"{tutorial.stem}.html").write_text(tutorial_html)
    return site


@pytest.mark.parametrize("fault, expected", [
    (None, None),
    (lambda s: s.replace('src="../_images/fig.png"', 'src="../_images/gone.png"'), "missing or empty"),
    (lambda s: s.replace("../_static/mathjax/tex-chtml.js", "https://cdn.example/mathjax.js"), "offline"),
    (lambda s: s.replace('<span class="math notranslate nohighlight">\\(s_l\\)</span>', "$s_l$"), "math"),
    (lambda s: s.replace("output stream", "output traceback").replace("dE/ds_2", "ValueError: bad"),
     "an output cell shows"),
    (lambda s: s.replace("dE/ds_2 = [0.1 0.2]", "Traceback (most recent call last):\n  File x"), "traceback"),
    (lambda s: s.replace('<img src="../_images/fig.png" alt="figure"/>', ""), "draws a figure"),
], ids=["clean", "missing-image", "cdn-script", "raw-math", "error-cell", "traceback-text", "no-figure"])
def test_html_checks_catch_each_fault(tmp_path, script, fault, expected):
    check_site = script("check_site")
    site = make_site(tmp_path, fault(CLEAN) if fault else CLEAN)
    failures = check_site.check_html(site)
    if expected is None:
        assert failures == []
    else:
        assert failures and all(expected in f for f in failures), failures


def test_equation_links_are_checked(tmp_path, script):
    check_site = script("check_site")
    site = make_site(tmp_path, CLEAN)
    (site / "equations.html").write_text('<p><code><span class="pre">dmf_np.layers.sigmoid</span></code></p>')
    assert check_site.check_html(site) == ["equations.html: dmf_np.layers.sigmoid is not a link to its docstring"]


@pytest.mark.slow
def test_site_builds_in_fast_mode_and_passes_the_html_checks(tmp_path, script):
    check_site = script("check_site")
    if os.environ.get("DMF_SITE_DIR"):
        site = Path(os.environ["DMF_SITE_DIR"]).resolve()
    else:
        missing = [m for m in DOCS_EXTRA if importlib.util.find_spec(m) is None]
        if missing:
            pytest.skip(f"the docs extra is not installed (missing {', '.join(missing)}): "
                        f'pip install -e ".[docs,tutorials]"')
        site = tmp_path / "site"
        built = subprocess.run(["bash", "scripts/build_site.sh", "--fast", "--no-cache", "--out", str(site)],
                               cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, f"build failed:\n{built.stdout[-3000:]}\n{built.stderr[-5000:]}"
    failures = check_site.check_html(site)
    assert not failures, "\n".join(failures)
    # the site holds what the issue lists: README, docs/, equations, API, every tutorial, solutions
    for page in ["index.html", "equations.html", "api/index.html", "api/dmf_np.backprop.html",
                 "solutions/index.html", "tutorials/index.html",
                 *[f"docs/{p.stem}.html" for p in (ROOT / "docs").glob("*.md")],
                 *[f"tutorials/{p.stem}.html" for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py")],
                 *[f"solutions/{p.stem}.html" for p in (ROOT / "tutorials" / "solutions").glob("tutorial_*.py")]]:
        assert (site / page).is_file(), f"{page} is not in the site"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
