"""Markdown pipe tables read back into cells and numbers, so that a test asserts the quantities a table
shows (against the summary it was made from) rather than pinning its text."""
from __future__ import annotations

import re

_RULE = re.compile(r"\|(\s*:?-{3,}:?\s*\|)+")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def cells(line: str) -> list:
    """The cells of one table line, stripped: '| a | b |' -> ['a', 'b']."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(text: str) -> list:
    """Every pipe table of ``text``, in order: a list of rows, each a list of cells (the header row first)."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and _RULE.fullmatch(lines[i + 1].strip()):
            rows = [cells(lines[i])]
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def numbers(cell: str) -> list:
    """The numbers written in a cell, in order: '0.2490 ± 0.0100' -> [0.249, 0.01], '+0.0040' -> [0.004],
    '3 of 5' -> [3.0, 5.0] (a typographic minus counts as a minus)."""
    return [float(x) for x in _NUMBER.findall(cell.replace("\u2212", "-"))]
