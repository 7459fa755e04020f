"""Progress bars that stay quiet when output is not a terminal (CI, log files)."""
from __future__ import annotations

import sys

from tqdm import tqdm  # not tqdm.auto: under a Jupyter kernel without ipywidgets it warns at import


def progress(iterable, desc: str = "", show: bool | None = None, **kwargs):
    """Wrap ``iterable`` in a tqdm bar when stderr is a terminal (or show=True)."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return iterable
    return tqdm(iterable, desc=desc, leave=False, **kwargs)
