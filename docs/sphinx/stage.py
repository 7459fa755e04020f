"""Lays out the documentation site's Sphinx sources in a build directory (see docs/site.md).

    python docs/sphinx/stage.py build/site_src --notebooks build/site_nb

The repository's files stay where they are and as they are; this script copies them into the
layout Sphinx needs and rewrites only the copies:

    index.md             README.md (the site's home page), plus the navigation (a hidden toctree)
    equations.md         EQUATIONS.md, each `dmf_np.module.function` made a link to its docstring
    docs/<name>.md       every docs/*.md
    tutorials/           the tutorials as executed by run_tutorials.py (NN_name.ipynb), and an index
    solutions/           one highlighted code page per tutorials/solutions/tutorial_NN.py
    api/                 one page per module of dmf_np (autodoc), found by walking the package
    figures/...          the images that the pages above show

Relative links are resolved against the repository and pointed at the page that now holds the
target (README's `tutorials/04_learning_paths.py` becomes the executed tutorial's page,
`dmf_np/backprop.py` the module's API page). A link to any other file of the repository becomes a
download of that file; a link to something that is not there is kept as plain text, with a warning.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # resolves() looks names up in this checkout's dmf_np
TUTORIAL_GLOB = "[0-9][0-9]_*.py"
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg", ".gif"}

# [text](target) and ![alt](target); the target has no spaces, an optional "title" may follow
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(\s+\"[^\"]*\")?\)")
# `dmf_np.module.name` or `dmf_np.module.name(args)` in backticks, not already part of a role
DOTTED = re.compile(r"(?<![}`])`(dmf_np(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(\([^`]*\))?`")
BARE = re.compile(r"(?<![}`])`([A-Za-z_][A-Za-z0-9_]*)`")
FENCE = re.compile(r"^(```|~~~)")
# what a plain-text cross-reference may not be made inside: code spans, links and images, math, HTML
# tags, and a role's target
PROTECTED = re.compile(r"(`+).*?\1|!?\[[^\]]*\]\([^)]*\)|\$\$.*?\$\$|\$[^$\n]+\$|<[^>\n]+>", re.S)
# a repository page named in the text (docs/claims.md, EQUATIONS.md, tutorials/09_x.py) or "tutorial 9"
PAGE_NAME = re.compile(r"(?<![\w/.-])(docs/[A-Za-z0-9_]+\.md|EQUATIONS\.md|README\.md|tutorials/\d\d_\w+\.py)(?![\w/])")
TUTORIAL_NAME = re.compile(r"\b([Tt]utorial) (\d{1,2})\b(?![.,]\d)")


def tutorials() -> list[Path]:
    return sorted((ROOT / "tutorials").glob(TUTORIAL_GLOB))


def solutions() -> list[Path]:
    return sorted((ROOT / "tutorials" / "solutions").glob("tutorial_[0-9][0-9].py"))


def modules() -> list[str]:
    """Every public module of dmf_np, by walking its files (no import needed here)."""
    names = []
    for path in sorted((ROOT / "dmf_np").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__" or any(p.startswith("_") for p in parts):
            continue
        names.append(".".join(parts))
    return names


def resolves(dotted: str) -> bool:
    """Whether ``dmf_np.module.name[.attr]`` names a function or class of this checkout's dmf_np."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return callable(obj)
    return False


def page_of(repo_path: str) -> str | None:
    """The staged page (or image) that stands for a repository path, or None if the site has none."""
    p = Path(repo_path)
    if repo_path == "README.md":
        return "index.md"
    if repo_path == "EQUATIONS.md":
        return "equations.md"
    if p.parent == Path("docs") and p.suffix == ".md":
        return repo_path
    if p.parent == Path("tutorials") and p.match(TUTORIAL_GLOB):
        return f"tutorials/{p.stem}.ipynb"
    if p.parent == Path("tutorials/solutions") and p.suffix == ".py":
        return f"solutions/{p.stem}.md"
    if repo_path in ("tutorials", "tutorials/README.md"):
        return "tutorials/index.md"
    if p.parts and p.parts[0] == "dmf_np" and p.suffix in ("", ".py"):
        parts = list(p.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        return f"api/{name}.md" if name in modules() else None
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return repo_path
    return None


def under_the_title(cells: list, new: list) -> list:
    """``new`` cells placed right under the page's title: the first markdown cell is split after
    its ``# `` heading (the tutorial's introduction follows them)."""
    import nbformat

    first = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), None)
    if first is None:
        return new + cells
    lines = cells[first].source.splitlines(keepends=True)
    if not lines or not lines[0].startswith("# "):
        return cells[:first + 1] + new + cells[first + 1:]
    title = nbformat.v4.new_markdown_cell(lines[0].rstrip("\n"))
    rest = "".join(lines[1:]).strip("\n")
    cells[first].source = rest
    return cells[:first] + [title] + new + ([cells[first]] if rest else []) + cells[first + 1:]


class Stager:
    def __init__(self, out: Path, fast: bool = False):
        self.out = out
        self.fast = fast  # the tutorials ran in fast mode: their pages say so
        self.images: set[str] = set()
        self.titles: dict[str, str] = {}
        self.warnings: list[str] = []

    def rewrite_links(self, text: str, repo_doc: str, staged_doc: str) -> str:
        """Points each relative link of a repository markdown file at the staged page."""
        repo_dir = posixpath.dirname(repo_doc)
        staged_dir = posixpath.dirname(staged_doc)

        def fix(m: re.Match) -> str:
            bang, label, target, title = m.group(1), m.group(2), m.group(3), m.group(4) or ""
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                return m.group(0)  # a URL (https:, mailto:) or an anchor on the same page
            path, _, anchor = target.partition("#")
            repo_path = posixpath.normpath(posixpath.join(repo_dir, path))
            if repo_path.startswith("..") or not (ROOT / repo_path).exists():
                self.warnings.append(f"{repo_doc}: link to {target!r}: no such file; kept as text")
                return label if not bang else m.group(0)
            page = page_of(repo_path)
            if page is not None and Path(page).suffix.lower() in IMAGE_SUFFIXES:
                self.images.add(repo_path)
            if page is None:
                if (ROOT / repo_path).is_dir():
                    return label  # a folder: the site has nothing to show for it
                # any other file of the repository: a download of the file itself
                rel = os.path.relpath(ROOT / repo_path, self.out / staged_dir)
                return f"{bang}[{label}]({Path(rel).as_posix()}{title})"
            rel = posixpath.relpath(page, staged_dir or ".")
            return f"{bang}[{label}]({rel}{'#' + anchor if anchor else ''}{title})"

        return self._outside_code(text, lambda s: LINK.sub(fix, s))

    def link_references(self, text: str, staged_doc: str) -> str:
        """Plain-text cross-references become links to the site's pages: a repository page named
        as a path ("docs/claims.md", `` `EQUATIONS.md` ``, "tutorials/09_why_dmf_trains_slower.py")
        and "tutorial 9". Headings, code, math, links and a page's references to itself are left
        as they are."""
        staged_dir = posixpath.dirname(staged_doc)
        numbered = {int(t.name[:2]): t for t in tutorials()}

        def target(repo_path: str) -> str | None:
            page = page_of(repo_path) if (ROOT / repo_path).is_file() else None
            if page is None or page == staged_doc:
                return None
            return posixpath.relpath(page, staged_dir or ".")

        def plain(segment: str) -> str:
            def path(m: re.Match) -> str:
                rel = target(m.group(1))
                return f"[{m.group(1)}]({rel})" if rel else m.group(0)

            def tutorial(m: re.Match) -> str:
                t = numbered.get(int(m.group(2)))
                rel = target(f"tutorials/{t.name}") if t else None
                return f"[{m.group(0)}]({rel})" if rel else m.group(0)

            return TUTORIAL_NAME.sub(tutorial, PAGE_NAME.sub(path, segment))

        def protected(m: re.Match) -> str:
            code = m.group(1) and m.group(0)[len(m.group(1)):-len(m.group(1))].strip()
            if code and PAGE_NAME.fullmatch(code) and target(code):
                return f"[{m.group(0)}]({target(code)})"  # `docs/claims.md` in backticks
            return m.group(0)

        def line(s: str) -> str:
            if s.lstrip().startswith(("#", ":::", "```", ":")):
                return s  # a heading, a directive or its option
            out, pos = [], 0
            for m in PROTECTED.finditer(s):
                out += [plain(s[pos:m.start()]), protected(m)]
                pos = m.end()
            return "".join(out + [plain(s[pos:])])

        return self._outside_code(text, lambda t: "".join(line(x) for x in t.splitlines(keepends=True)))

    @staticmethod
    def _outside_code(text: str, transform) -> str:
        """Applies ``transform`` to the text outside fenced code blocks."""
        out, chunk, fenced = [], [], False
        for line in text.splitlines(keepends=True):
            if FENCE.match(line.lstrip()):
                if not fenced:
                    out.append(transform("".join(chunk)))
                    chunk = []
                fenced = not fenced
                out.append(line)
            elif fenced:
                out.append(line)
            else:
                chunk.append(line)
        out.append(transform("".join(chunk)))
        return "".join(out)

    def link_api(self, text: str) -> str:
        """`dmf_np.fusion.forward` -> {py:obj}`dmf_np.fusion.forward` (a link to its docstring).

        A bare `name` on a line that has named `dmf_np.module.thing` before it is linked too when
        it is an attribute of that thing or of its module (EQUATIONS.md's "explicit Jacobian
        `shared_to_modality_jacobian`" after `dmf_np.backprop.grad_via_shared_path`)."""
        def line(s: str) -> str:
            scopes = []

            def dotted(m: re.Match) -> str:
                scopes.insert(0, m.group(1))
                if m.group(2):
                    return f"{{py:obj}}`{m.group(1)}{m.group(2)} <{m.group(1)}>`"
                return f"{{py:obj}}`{m.group(1)}`"

            s = DOTTED.sub(dotted, s)
            if not scopes:
                return s

            def bare(m: re.Match) -> str:
                for scope in scopes:
                    for prefix in (scope, scope.rsplit(".", 1)[0]):
                        if resolves(f"{prefix}.{m.group(1)}"):
                            return f"{{py:obj}}`{m.group(1)} <{prefix}.{m.group(1)}>`"
                return m.group(0)

            return BARE.sub(bare, s)

        return self._outside_code(text, lambda s: "".join(line(x) for x in s.splitlines(keepends=True)))

    def write(self, staged: str, text: str) -> None:
        path = self.out / staged
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def markdown(self, repo_doc: str, staged_doc: str, extra: str = "") -> None:
        text = (ROOT / repo_doc).read_text(encoding="utf-8")
        text = self.link_api(self.link_references(self.rewrite_links(text, repo_doc, staged_doc), staged_doc))
        self.write(staged_doc, text + extra)

    def stage(self, notebooks: Path) -> None:
        docs = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
        # the glossary sits near the top of the Reference list, after the equations
        nav = NAV.format(docs="\n".join(f"docs/{Path(d).stem}" for d in docs if d != "glossary.md"),
                         glossary="docs/glossary" if "glossary.md" in docs else "")
        self.markdown("README.md", "index.md", extra=nav)
        self.mark_text_figures("index.md")
        self.markdown("EQUATIONS.md", "equations.md")
        for name in docs:
            self.markdown(f"docs/{name}", f"docs/{name}")
        self.stage_notebooks(notebooks)
        items = "\n".join(f"* [{self.titles[t.stem]}]({t.stem}.ipynb)" for t in tutorials())
        self.markdown("tutorials/README.md", "tutorials/index.md", extra=TUTORIALS_LIST.format(items=items))
        self.stage_solutions()
        self.stage_api()
        for repo_path in sorted(self.images):
            (self.out / repo_path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / repo_path, self.out / repo_path)

    def mark_text_figures(self, staged_doc: str) -> None:
        """README's diagram is a fence with no language: on the site it is a figure drawn in text
        (no syntax colours, a class the stylesheet sizes so that its widest line fits the page)."""
        path = self.out / staged_doc
        lines, fenced = path.read_text(encoding="utf-8").splitlines(keepends=True), None
        for i, line in enumerate(lines):
            fence = FENCE.match(line.lstrip())
            if fence and fenced is None:
                fenced = line.strip()
                if line.strip() == "```":
                    lines[i] = "```{code-block} text\n:class: dmf-text-figure\n\n"
            elif fence and line.strip() == fenced[:3]:
                fenced = None
        path.write_text("".join(lines), encoding="utf-8")

    def stage_notebooks(self, notebooks: Path) -> None:
        """The executed tutorials, their markdown cells' links pointed at the site's pages, each
        page opening with download buttons for its notebook and script (and, from a fast run, the
        banner that says its numbers are smoke-test sized)."""
        import jupytext
        import nbformat

        for path in tutorials():
            executed = notebooks / f"{path.stem}.ipynb"
            if not executed.is_file():
                raise FileNotFoundError(f"{executed}: tutorial {path.name} has not been executed "
                                        f"(docs/sphinx/run_tutorials.py)")
            nb = nbformat.read(executed, as_version=4)
            ran_fast = nb.metadata.get("dmf_np", {}).get("fast")
            if ran_fast is not None and ran_fast != self.fast:
                raise ValueError(f"{executed} ran in {'fast' if ran_fast else 'full'} mode but the site is "
                                 f"staged as {'fast' if self.fast else 'full'} (run_tutorials.py and stage.py "
                                 f"need the same --fast)")
            repo_doc, staged_doc = f"tutorials/{path.name}", f"tutorials/{path.stem}.ipynb"
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = self.link_api(self.link_references(
                        self.rewrite_links(cell.source, repo_doc, staged_doc), staged_doc))
            # the downloads: the script as it is, and a notebook made from it (no outputs: the
            # reader runs it), kept under _code/, which Sphinx does not read as pages
            code = self.out / "_code"
            code.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, code / path.name)
            jupytext.write(jupytext.read(path, fmt="py:percent"), code / f"{path.stem}.ipynb", fmt="ipynb")
            top = [nbformat.v4.new_markdown_cell(DOWNLOADS_CELL.format(stem=path.stem))]
            if self.fast:
                top.insert(0, nbformat.v4.new_markdown_cell(FAST_BANNER_CELL))
            nb.cells[:] = under_the_title(nb.cells, top)
            heading = next((line for c in nb.cells if c.cell_type == "markdown"
                            for line in c.source.splitlines() if line.startswith("# ")), f"# {path.stem}")
            self.titles[path.stem] = heading[2:].strip()
            solution = ROOT / "tutorials" / "solutions" / f"tutorial_{path.name[:2]}.py"
            if solution.is_file():  # a pointer, not the answers: the reader chooses to look
                page = f"../solutions/{solution.stem}.md"
                nb.cells.append(nbformat.v4.new_markdown_cell(SOLUTIONS_CELL.format(page=page)))
            (self.out / "tutorials").mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, self.out / staged_doc)

    def stage_solutions(self) -> None:
        items = []
        for path in solutions():
            number = int(path.stem.split("_")[1])
            tutorial = next((t for t in tutorials() if int(t.name[:2]) == number), None)
            title = f"Solutions to tutorial {number}"
            # the code is copied under _code/, which Sphinx does not read as a page
            (self.out / "_code").mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, self.out / "_code" / path.name)
            back = f"[the tutorial](../tutorials/{tutorial.stem}.ipynb)" if tutorial else "the tutorial"
            self.write(f"solutions/{path.stem}.md", SOLUTION_PAGE.format(
                title=title, back=back, name=path.name, repo=f"tutorials/solutions/{path.name}"))
            items.append(path.stem)
        listing = "\n".join(items) if items else ""
        note = "" if items else "\nNo solutions have been written yet.\n"
        self.write("solutions/index.md", SOLUTIONS_INDEX.format(items=listing, note=note))

    def stage_api(self) -> None:
        names = modules()
        for name in names:
            self.write(f"api/{name}.md", API_PAGE.format(name=name, rule="=" * len(name)))
        self.write("api/index.md", API_INDEX.format(items="\n".join(names)))


NAV = """

```{{toctree}}
:hidden:
:caption: Learn
:glob:

tutorials/index
tutorials/[0-9][0-9]_*
solutions/index
```

```{{toctree}}
:hidden:
:caption: Reference

equations
{glossary}
api/index
{docs}
```
"""

# the first thing on every tutorial page of a fast build (scripts/check_site.py looks for its class)
FAST_BANNER_CELL = """:::{admonition} Built in fast mode: numbers are smoke-test sized
:class: warning dmf-fast-banner

This page was executed with `DMF_TUTORIAL_FAST=1` (`scripts/build_site.sh --fast`): small data and
few epochs, so that the whole site builds in about a minute. Its numbers and figures show that the
code runs, not what the tutorial's text discusses; the full build (`scripts/build_site.sh`), or
running the tutorial yourself, gives those.
:::"""

DOWNLOADS_CELL = """```{{container}} dmf-downloads
{{download}}`Download the notebook (.ipynb) <../_code/{stem}.ipynb>`
{{download}}`Download the script (.py) <../_code/{stem}.py>`
```"""

TUTORIALS_LIST = """

## On this site

Each tutorial below was executed when the site was built: the numbers and figures on its page are
the ones it printed and drew.

{items}

The exercises' solutions are on their own pages, for when you have tried: [Solutions](../solutions/index.md).
"""

SOLUTIONS_CELL = """## Solutions

The solutions to this tutorial's exercises are on [their own page]({page}), for when you have tried
(or want to compare)."""

SOLUTION_PAGE = """# {title}

The solutions to the exercises of {back}, as in `{repo}`. Each function has the name of the
exercise's stub; with `DMF_EXERCISE_SOLUTIONS=1` in the environment the tutorial checks these
instead of the stubs.

```{{literalinclude}} ../_code/{name}
:language: python
:linenos:
```
"""

SOLUTIONS_INDEX = """# Solutions

The tutorials' exercises ask you to fill in a function; each tutorial checks your answer itself.
The solutions are here, one page per tutorial, for when you have tried (or want to compare).
{note}
```{{toctree}}
:maxdepth: 1

{items}
```
"""

# autodoc writes reStructuredText, so the directive sits in an eval-rst block
API_PAGE = """# `{name}`

```{{eval-rst}}
.. automodule:: {name}
   :members:
   :show-inheritance:
```
"""

API_INDEX = """# API

The docstrings of every module of `dmf_np`, in the package's order. Each function that computes an
equation of the paper says which one; [the equations page](../equations.md) links every equation to
its function here.

```{{toctree}}
:maxdepth: 1

{items}
```
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to lay the sources out in (emptied first)")
    parser.add_argument("--notebooks", type=Path, required=True,
                        help="the executed tutorials (NN_name.ipynb), from run_tutorials.py")
    parser.add_argument("--fast", action="store_true",
                        help="the tutorials ran in fast mode: a banner on each of their pages says so")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)  # a fresh layout: nothing left over from a tutorial or page since removed
    out.mkdir(parents=True)
    stager = Stager(out, fast=args.fast)
    stager.stage(args.notebooks)
    for warning in stager.warnings:
        print("stage:", warning, file=sys.stderr)
    print(f"staged the site's sources in {out} ({len(modules())} API modules, {len(tutorials())} "
          f"tutorials, {len(solutions())} solution files, {len(stager.images)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
