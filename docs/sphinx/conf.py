"""Sphinx configuration of the documentation site (docs/site.md says how it is built and why).

The sources are laid out in build/site_src by stage.py and the tutorials executed there by
run_tutorials.py; scripts/build_site.sh runs both, then ``sphinx-build -c docs/sphinx``.
Everything the pages need is served from the site itself: the theme (furo) makes no requests, and
MathJax is copied in from the sphinx-mathjax-offline package (no CDN), so the site works offline.
"""
import importlib.util
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # autodoc documents this checkout's dmf_np
sys.path.insert(0, str(Path(__file__).parent))
import papermath  # noqa: E402  (beside this file: the paper's plain-text symbols as math)

project = "dmf_np"
author = "dmf_np contributors"
copyright = "dmf_np contributors"

extensions = [
    "myst_nb",              # MyST markdown and executed notebooks
    "sphinx.ext.autodoc",   # the API pages, from the docstrings
    "sphinx.ext.napoleon",  # NumPy-style sections in the docstrings
    "sphinx.ext.mathjax",
]

# the pages: markdown everywhere; the tutorials arrive as notebooks already executed by
# run_tutorials.py (with the repository root as working directory, which myst-nb cannot set)
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_code/**", "**/.ipynb_checkpoints"]
nb_execution_mode = "off"
nb_output_stderr = "show"      # kept visible, so that the checks can see a warning or traceback
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3       # "#quick-start"-style links to headings work as on GitHub
suppress_warnings = ["myst.header"]  # some docs start below level 1 or skip a level

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "furo"
html_title = "dmf_np: Dense Multimodal Fusion from scratch"
# _static: the interactive Fig. 2 (docs/fig2_interactive.md); its data, written by scripts/fig2_paths.py
html_static_path = ["_static", "../../figures/fig2_paths.js"]
html_copy_source = False
html_show_sourcelink = False

# the site's own stylesheet: download buttons, README's text figure (docs/sphinx/_css/dmf.css)
html_static_path = [*html_static_path, "_css"]
html_css_files = ["dmf.css"]

# MathJax from the site itself, never from a CDN
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_PARTS = ("tex-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors")


def mathjax_source() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is served from the site: pip install -e .[docs] (sphinx-mathjax-offline)")
    return Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"


def copy_mathjax(app, exc):
    """Copies the parts of MathJax 3 that tex-chtml.js loads (its fonts, lazily loaded TeX
    extensions, the menu's accessibility code) into _static/mathjax."""
    if exc is not None or app.builder.format != "html":
        return
    src, dst = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (src / part).is_dir():
            shutil.copytree(src / part, dst / part, dirs_exist_ok=True)
        elif (src / part).is_file():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / part, dst / part)


# The docstrings are written to be read as plain text, with the paper's symbols: |s_l| is the
# width of layer s_l, not a reStructuredText substitution. Escape such bars (outside ``literals``
# and `roles`) so that they print as written.
LITERAL_OR_ROLE = re.compile(r"(``.*?``|:\w+:`[^`]*`|`[^`]*`)")


def escape_bars(line: str) -> str:
    parts = LITERAL_OR_ROLE.split(line)
    return "".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def join_hanging_indents(lines: list[str]) -> list[str]:
    """A line indented under a non-blank line continues it (plain text's hanging indent), unless it
    is part of a literal block (after ``::``); reStructuredText would make it a block quote."""
    out, literal_indent = [], None
    for line in lines:
        if literal_indent is not None and line.strip() and indent(line) <= literal_indent:
            literal_indent = None
        previous = out[-1] if out else ""
        if (literal_indent is None and line.strip() and previous.strip()
                and indent(line) > indent(previous) and not previous.rstrip().endswith("::")):
            out[-1] = previous.rstrip() + " " + line.strip()
            continue
        if line.rstrip().endswith("::"):
            literal_indent = indent(line)
        out.append(line)
    return out


def formula_lines(lines: list[str]) -> list[str]:
    """An indented block of formulas after a blank line (cca's ``C_xx' = ...``, one per line) keeps
    its line breaks: each line becomes a line of a reStructuredText line block (``| ``), which
    reStructuredText would otherwise flow into one paragraph."""
    out = list(lines)
    base = min((indent(line) for line in lines if line.strip()), default=0)
    i = 0
    while i < len(out):
        start = i
        if i > 0 and not out[i - 1].strip() and out[i].strip() and indent(out[i]) > base:
            block_indent = indent(out[i])
            while i < len(out) and out[i].strip() and indent(out[i]) == block_indent:
                i += 1
            block = out[start:i]
            if len(block) > 1 and all("=" in line and not line.lstrip().startswith(("*", "-", "|")) for line in block):
                out[start:i] = [" " * block_indent + "| " + line.strip() for line in block]
        i = max(i, start + 1)
    return out


def plain_text_docstrings(app, what, name, obj, options, lines):
    # the paper's symbols (h^x_l, W^{x->s}_l, dE/ds_l, |s_l|) become :math: roles first, so that
    # the bars of |s_l| are math and only the remaining ones are escaped
    lines[:] = formula_lines(join_hanging_indents([escape_bars(papermath.to_rst(line)) for line in lines]))


def setup(app):
    mathjax_source()  # fail at once, with the install command, rather than after the build
    app.connect("build-finished", copy_mathjax)
    app.connect("autodoc-process-docstring", plain_text_docstrings)
