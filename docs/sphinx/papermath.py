"""The paper's symbols in plain text, as math for the site (docs/site.md).

The docstrings are written to be read in a terminal, with the paper's notation spelled in ASCII:
``h^x_l`` (modality x's layer l), ``W^{x->s}_l``, ``s_{l-1}``, ``hhat^m_l`` (a decoder node),
``f'(M_l)``, ``dE/dh^x_l``, ``|s_l|``. Before autodoc renders a docstring, conf.py passes its lines
through :func:`to_rst`, which finds those symbols outside ``literals`` and roles and makes each one
a ``:math:`` role (rendered by MathJax), so the API pages show h^x_l as a formula rather than as
raw carets and underscores (which reStructuredText would otherwise print as they are, and markdown
would eat into emphasis). The docstrings themselves stay as they are.

Only what is unambiguously notation is converted: a one-letter base (or hhat, shat, delta) followed
by superscripts and subscripts that end the word. ``delta_h_next`` or ``n_components`` are names of
variables and are left alone; so are quoted parameter keys ('W^x_1'), which become literals.
"""
from __future__ import annotations

import re

# one superscript or subscript: {braced}, a word the docstrings use (out, in), or one or two
# letters/digits that end the word (h^x_l, C_xx, n_v); a prime may follow (C_xx')
_SCRIPT = r"[\^_](?:\{[^{}\s]+\}|out|in|[A-Za-z0-9]{1,2})(?![A-Za-z0-9])'?"
_BASE = r"(?:hhat|shat|delta|[A-Za-z])'?"
SYMBOL = rf"{_BASE}(?:{_SCRIPT})+"
# a symbol starts a word (not inside an identifier, a dotted name, a quoted key or TeX) and ends one
_BEFORE = r"(?<![\w\\$.'^])"
_AFTER = r"(?![\w{^'])"

_PATTERNS = [
    # a quoted parameter key is code, not math: 'W^{x->s}_2' -> ``'W^{x->s}_2'``
    ("key", rf"'(?:{SYMBOL}|[Wb]'?\^out)'"),
    # the sigmoid's derivative through its output: f(M_l)(1 - f(M_l))
    ("fprime", rf"{_BEFORE}f\((?P<a>{SYMBOL}|[A-Za-z])\)\(1 - f\((?P=a)\)\)"),
    # dE/dh^x_l, ds_{l+1}/ds_l, dE/da, dε/dW^x_1, ∂ε/∂s_l
    ("deriv", rf"{_BEFORE}(?P<d>[d∂])(?P<num>E|ε|{SYMBOL})/(?P=d)(?P<den>{SYMBOL}|[A-Za-z](?![\w{{^]))"),
    # sum_m, sum_{v,h}, sum_{k : item k relevant}
    ("sum", rf"{_BEFORE}sum_(?P<over>\{{[^{{}}]+\}}|[A-Za-z](?![\w{{^]))"),
    # f'(M), f'(a)
    ("fp", rf"{_BEFORE}f'\((?P<arg>{SYMBOL}|[A-Za-z])\)"),
    # (W^s_l)^T
    ("transpose", rf"(?<![\w)])\((?P<t_inner>{SYMBOL})\)\^T(?![\w{{])"),
    # |s_l|, a layer's width
    ("width", rf"(?<![\w\\|])\|(?P<w_inner>{SYMBOL})\|"),
    ("symbol", rf"{_BEFORE}{SYMBOL}{_AFTER}"),
    # W^out, b^out
    ("out", rf"{_BEFORE}[Wb]'?\^out{_AFTER}"),
]
PAPER_MATH = re.compile("|".join(f"(?P<{name}>{p})" for name, p in _PATTERNS))

_WORDS = {"out": r"\mathrm{out}", "in": r"\mathrm{in}"}
_BASES = {"hhat": r"\hat{h}", "shat": r"\hat{s}", "delta": r"\delta"}


def _script_tex(body: str) -> str:
    body = body.replace("->", r"\to ").replace("→", r"\to ")
    if body in _WORDS:
        return "{" + _WORDS[body] + "}"
    return body if body.startswith("{") or len(body) == 1 else "{" + body + "}"


def symbol_tex(text: str) -> str:
    """TeX for one symbol: h^x_l -> h^x_l, W^{x->s}_l -> W^{x\\to s}_l, b_h_j -> {b_h}_j,
    hhat^m_{l+1} -> \\hat{h}^m_{l+1}, C_xx'^{-1/2} -> C'_{xx}{}^{-1/2}."""
    m = re.match(r"(hhat|shat|delta|[A-Za-z])('?)", text)
    base, prime, rest = _BASES.get(m.group(1), m.group(1)), m.group(2), text[m.end():]
    scripts = re.findall(r"([\^_])(\{[^{}\s]+\}|out|in|[A-Za-z0-9]{1,2})('?)", rest)
    prime = prime or ("'" if any(p for _, _, p in scripts) else "")
    # a prime is a superscript: TeX merges it with a superscript right after it (W'^s_l), but
    # not with one after a subscript (C'_{xx} then ^{-1/2}), which needs the braces
    tex, seen = base + prime, {"'"} if prime else set()
    for i, (kind, body, _) in enumerate(scripts):
        clash = kind in seen or (kind == "^" and "'" in seen and i > 0)
        if clash:  # a second subscript indexes the whole symbol: b_h_j is (b_h)_j
            tex, seen = "{" + tex + "}", set()
        seen.add(kind)
        tex += kind + _script_tex(body)
    return tex


def match_tex(kind: str, m: re.Match) -> str | None:
    """The TeX of a match of PAPER_MATH of that kind, or None for a quoted key (which is code)."""
    if kind == "key":
        return None
    if kind == "fprime":
        a = m.group("a")
        a = symbol_tex(a) if len(a) > 1 else a
        return rf"f({a})\,(1 - f({a}))"
    if kind == "deriv":
        num, den = m.group("num"), m.group("den")
        num = {"E": "E", "ε": r"\varepsilon"}.get(num) or symbol_tex(num)
        den = symbol_tex(den) if len(den) > 1 else den
        return rf"\partial {num}/\partial {den}"
    if kind == "sum":
        over = m.group("over").strip("{}")
        # words under the sum are text: sum_{k : item k relevant}
        over = re.sub(r"[A-Za-z]{2,}", lambda w: rf"\text{{{w.group(0)}}}", over).replace(" ", r"\ ")
        return rf"\sum_{{{over}}}"
    if kind == "fp":
        arg = m.group("arg")
        return f"f'({symbol_tex(arg) if len(arg) > 1 else arg})"
    if kind == "transpose":
        return f"({symbol_tex(m.group('t_inner'))})^\\top"
    if kind == "width":
        return rf"\lvert {symbol_tex(m.group('w_inner'))} \rvert"
    if kind == "out":
        return m.group(0).replace("^out", r"^{\mathrm{out}}")
    return symbol_tex(m.group(0))


def _kind(m: re.Match) -> str:
    return next(name for name, _ in _PATTERNS if m.group(name) is not None)


# reStructuredText recognises inline markup only between these characters (docutils' rules);
# elsewhere an escaped space (removed from the output) separates the role from the text
_RST_BEFORE_OK = set(" \t-:/'\"<([{") | {""}
_RST_AFTER_OK = set(" \t-.,:;!?\\/'\")]}>") | {""}
# ``literals``, `interpreted text` and :roles:`...`, which are left as they are
_RST_CODE = re.compile(r"(``.*?``|:[\w:+-]+:`[^`]*`|`[^`]*`_{0,2})")


def _convert(text: str, wrap) -> str:
    out, pos = [], 0
    for m in PAPER_MATH.finditer(text):
        kind = _kind(m)
        out.append(text[pos:m.start()])
        if kind == "key":
            out.append(wrap(None, m.group(0), text, m))
        else:
            out.append(wrap(match_tex(kind, m), m.group(0), text, m))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# TeX already written as $...$ in a docstring (not $DMF_BACKEND, an environment variable)
_DOLLAR_MATH = re.compile(r"\$(?![A-Z][A-Z0-9_]+\b)(?=[^\s$])([^$`]+?)(?<=[^\s$])\$")


def _dollars_to_roles(line: str) -> str:
    parts = _RST_CODE.split(line)

    def role(m: re.Match) -> str:
        text = m.string
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        return (("" if before in _RST_BEFORE_OK else "\\ ") + f":math:`{m.group(1)}`"
                + ("" if after in _RST_AFTER_OK else "\\ "))

    return "".join(p if i % 2 else _DOLLAR_MATH.sub(role, p) for i, p in enumerate(parts))


def to_rst(line: str) -> str:
    """One docstring line with its paper symbols, and any TeX written as ``$...$``, made ``:math:``
    roles (and quoted keys literals); ``literals``, roles and a field list's marker are left as
    they are."""
    field = re.match(r"^(\s*:[^:`]+:)(?=\s|$)", line)
    head, line = (field.group(1), line[field.end():]) if field else ("", line)
    parts = _RST_CODE.split(_dollars_to_roles(line))

    def wrap(tex, original, text, m):
        if tex is None:
            return f"``{original}``"
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        return (("" if before in _RST_BEFORE_OK else "\\ ") + f":math:`{tex}`"
                + ("" if after in _RST_AFTER_OK else "\\ "))

    return head + "".join(p if i % 2 else _convert(p, wrap) for i, p in enumerate(parts))


_MD_CODE = re.compile(r"(`+[^`]*`+|\$[^$\n]+\$)")


def to_markdown(text: str) -> str:
    """Markdown text with its paper symbols made ``$...$`` math (code spans, existing math and
    fenced blocks left alone); used once to convert docs/*.md, whose diffs were then read."""
    out, fenced = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"^\s*(```|~~~)", line):
            fenced = not fenced
        if fenced or line.startswith("    ") or re.match(r"^\s*(```|~~~)", line):
            out.append(line)
            continue
        parts = _MD_CODE.split(line)

        def wrap(tex, original, text, m):
            return original if tex is None else f"${tex}$"

        out.append("".join(p if i % 2 else _convert(p, wrap) for i, p in enumerate(parts)))
    return "".join(out)
