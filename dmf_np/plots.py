"""Figures and tables drawn from saved metrics (never from live training state).

Everything here reads plain dicts as stored in a run's metrics.json, so a figure can be redrawn
from the JSON alone. matplotlib is imported when a figure is drawn (it is slow to import), with
whatever backend the caller chose: inline under a notebook kernel, Agg in scripts and tests.

Every figure of the project, tutorials included, gives each scheme the colour of ``MODEL_STYLE``:
DMF red, IMF blue, EMF grey.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .io import atomic_write_bytes

MODEL_STYLE = {"dmf": dict(color="#d62728", ls="-", label="DMF"),
               "imf": dict(color="#1f77b4", ls="-", label="IMF"),
               "emf": dict(color="#7f7f7f", ls="--", label="EMF")}
MODEL_ORDER = ("emf", "imf", "dmf")
SCRATCH_FIGURES = Path(tempfile.gettempdir()) / "dmf_np-figures"


def figures_dir(save_to=None) -> Path:
    """Where a tutorial's figures go: ``save_to`` if given, else $DMF_FIGURES_DIR, else a scratch
    directory (``SCRATCH_FIGURES``), so that running a tutorial never overwrites the committed
    figures/ unless asked to (``DMF_FIGURES_DIR=figures``)."""
    chosen = save_to if save_to is not None else os.environ.get("DMF_FIGURES_DIR") or SCRATCH_FIGURES
    return Path(chosen)


def in_notebook() -> bool:
    """Whether this code runs under a Jupyter kernel (where figures are displayed inline)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def show_and_save(fig, name: str, save_to=None, dpi: int = 120) -> Path:
    """Show ``fig`` where the reader is and save it as ``<figures_dir>/<name>``; returns the path.

    Under a notebook kernel (Jupyter, or the executed pages of the documentation site) the figure
    is displayed in the cell's output; in a script it is only saved. Either way it is then closed,
    so a loop of figures holds no memory. The file is written atomically (:func:`figures_dir` says
    where).
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    path = atomic_write_bytes(figures_dir(save_to) / name, buf.getvalue())
    if in_notebook():
        from IPython.display import display  # only under a kernel, where IPython is present

        display(fig)
    plt.close(fig)
    return path


def fig4_data(curves: dict) -> dict:
    """The JSON of Fig. 4: {"<damage %>": {"<model>": {"train_loss": [...], "test_error": [...]}}},
    each list the per-epoch mean over seeds (test error in percent)."""
    return {d: {m: {"train_loss": c["train_loss"], "test_error": c["test_error"]} for m, c in by_model.items()}
            for d, by_model in sorted(curves.items(), key=lambda kv: int(kv[0]))}


def plot_fig4(data: dict, path, title: str | None = None, curves: dict | None = None) -> Path:
    """Fig. 4, drawn by :func:`draw_fig4` and written to ``path`` (atomically); returns the path."""
    import matplotlib.pyplot as plt

    fig = draw_fig4(data, title, curves)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def draw_fig4(data: dict, title: str | None = None, curves: dict | None = None):
    """Fig. 4: training loss (top) and test accuracy (bottom) per epoch, one column per damage level.

    data: as :func:`fig4_data`. curves (optional): the metrics' curves with "*_std" lists, drawn as
    a band of +-1 standard deviation over seeds. Returns the matplotlib figure (a tutorial passes it
    to :func:`show_and_save`).
    """
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    levels = sorted(data, key=int)
    if not levels:
        raise ValueError("no curves to plot: has any damage level finished?")
    fig, axes = plt.subplots(2, len(levels), figsize=(max(3.3 * len(levels), 6.0), 5.6), squeeze=False, sharex=True)
    for j, d in enumerate(levels):
        top, bottom = axes[0, j], axes[1, j]
        for m in MODEL_ORDER:
            if m not in data[d]:
                continue
            style = MODEL_STYLE[m]
            loss, err = data[d][m]["train_loss"], data[d][m]["test_error"]
            epochs = range(1, len(loss) + 1)
            top.plot(epochs, loss, lw=1.6, **style)
            bottom.plot(epochs, [100.0 - e for e in err], lw=1.6, **style)
            std = (curves or {}).get(d, {}).get(m, {})
            for ax, mean, key, sign in ((top, loss, "train_loss_std", 1), (bottom, err, "test_error_std", -1)):
                s = std.get(key)
                if s:
                    centre = [v if sign > 0 else 100.0 - v for v in mean]
                    ax.fill_between(epochs, [c - x for c, x in zip(centre, s)], [c + x for c, x in zip(centre, s)],
                                    color=style["color"], alpha=0.15, lw=0)
        top.set_yscale("log")
        top.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no labels on minor ticks
        top.set_title(f"right half damaged {d}%", fontsize=10)
        bottom.set_xlabel("epoch")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("training loss (log scale)")
    axes[1, 0].set_ylabel("test accuracy (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, y=0.005, va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    return fig


def table1_data(table: dict) -> dict:
    """The JSON of Table 1: {"left+right": {"<model>": {"<damage %>": {"mean", "std", "seeds"}}}, "right": ...}."""
    def cells(by_level):  # damage levels in numeric order
        ordered = sorted(by_level.items(), key=lambda kv: int(kv[0]))
        return {d: {k: cell[k] for k in ("mean", "std", "seeds")} for d, cell in ordered}

    return {c: {m: cells(by_level) for m, by_level in by_model.items()} for c, by_model in table.items()}


def table1_markdown(table: dict, paper: dict, levels, notes: str = "") -> str:
    """Table 1 as markdown: ours (mean +- std over seeds) beside the paper's number, error in %."""
    head = "| Input | Model | " + " | ".join(f"{d}%" for d in levels) + " |"
    rows = [head, "|" + "---|" * (len(levels) + 2)]
    for c, cname in (("left+right", "Left+Right"), ("right", "Right")):
        for m in MODEL_ORDER:
            cells = []
            for d in levels:
                ours = table.get(c, {}).get(m, {}).get(str(d))
                ref = paper[c][m].get(int(d))
                ref_s = f" ({ref:.2f})" if ref is not None else ""
                cells.append("not run" + ref_s if ours is None else
                             f"{ours['mean']:.2f} ± {ours['std']:.2f}{ref_s}")
            rows.append(f"| {cname} | {m.upper()} | " + " | ".join(cells) + " |")
    text = "\n".join(rows) + "\n"
    return (notes.rstrip() + "\n\n" + text) if notes else text


# --- the study (docs/claims.md): E1, the pretraining ablation ------------------------------

E1_VARIANT_STYLE = {"A": dict(color="#d62728", ls="-"), "B": dict(color="#9e1b1b", ls="--"),
                    "B'": dict(color="#ff7f7f", ls="-."), "C": dict(color="#e377c2", ls=":")}  # shades of DMF's red


def draw_study_fig4(e1: dict):
    """Fig. 4 under E1's four DMF pretraining variants (figures/study.json's "e1"): training loss per
    epoch (top, log scale) and final test accuracy ± 1 std (bottom), one column per damage level."""
    import matplotlib.pyplot as plt

    levels = sorted({d for v in E1_VARIANT_STYLE for d in e1.get(v, {})}, key=int)
    fig, axes = plt.subplots(2, len(levels), figsize=(5.2 * len(levels), 7), squeeze=False, sharex=True)
    for j, d in enumerate(levels):
        top, bottom = axes[0, j], axes[1, j]
        cells = {v: e1.get(v, {}).get(d, {}) for v in E1_VARIANT_STYLE}  # what has finished
        first = next(c for c in cells.values() if c)
        lines = [(first[m], MODEL_STYLE[m]) for m in ("emf", "imf") if m in first]
        lines += [(c["dmf"], dict(E1_VARIANT_STYLE[v], label=f"DMF-{v}")) for v, c in cells.items() if "dmf" in c]
        for k, (cell, style) in enumerate(lines):
            loss, err = cell["train_loss"]["mean"], cell["test_error"]
            top.plot(range(1, len(loss) + 1), loss, lw=1.6, **style)
            # side by side at the last epoch, so that the error bars do not hide each other
            bottom.errorbar([len(loss) - 0.4 * (len(lines) - 1) / 2 + 0.4 * k], [100 - err["mean"]], yerr=[err["std"]],
                            fmt="o", capsize=3, color=style["color"])
        top.set_yscale("log")
        seeds = sorted({c["train_loss"]["seeds"] for c, _ in lines})
        top.set_title(f"right half damaged {d}% (mean of {'-'.join(map(str, seeds))} seeds)")
        top.set_ylabel("training loss ε (log)")
        bottom.set_ylabel("final test accuracy (%), ±1 std")
        bottom.set_xlabel("epoch")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("E1: Fig. 4 under four DMF pretraining variants (docs/claims.md)")
    fig.tight_layout()
    return fig


def draw_study_paths(paths: dict, level: str = "0", layer: str = "h^x_2", param: str = "W^x_1", title: str = "E1"):
    """The learning paths during fine-tuning (seed means on a fixed batch; epoch 0 is the start), for
    IMF and every DMF variant (``paths``: {model: {level: :func:`dmf_np.experiments.study.path_dynamics`}}):
    at ``layer``, the size of dε/dh (Eq. 5, both terms together), ||Eq. 7 term|| / ||Eq. 2 term|| and the
    cosine between them; and the share of dε/d``param`` carried by the Eq. 7 term at the layer it feeds."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.6))
    axes = axes.ravel()
    styles = {"imf": MODEL_STYLE["imf"], "dmf": MODEL_STYLE["dmf"],
              **{f"dmf-{v}": dict(style, label=f"DMF-{v}") for v, style in E1_VARIANT_STYLE.items()}}
    for model, style in styles.items():
        p = paths.get(model, {}).get(level)
        if p is None or layer not in p:
            continue
        m, s, c = (np.asarray(p[layer][k], float) for k in ("modality", "shared", "cosine"))
        epochs = range(len(m))
        # ||a + b||^2 = ||a||^2 + ||b||^2 + 2 ||a|| ||b|| cos(a, b): the whole error signal at the layer
        axes[0].plot(epochs, np.sqrt(m ** 2 + s ** 2 + 2 * m * s * c), **style)
        if s.max() > 0:  # IMF: no Eq. 7 term below the top
            axes[1].plot(epochs, np.where(m > 0, s / np.where(m > 0, m, 1), np.nan), **style)
            axes[2].plot(epochs, c, **style)
        axes[3].plot(epochs, p.get(f"share_shared {param}", np.zeros(len(m))), **style)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].set_title(f"size of dε/d{layer} (Eq. 5, both terms)")
    axes[1].set_title(f"at {layer}: ||Eq. 7 term|| / ||Eq. 2 term||")
    axes[2].set_title(f"at {layer}: cosine of the two terms of Eq. 5")
    axes[3].set_title(f"share of dε/d{param} entering through Eq. 7")
    for ax in axes:
        ax.set_xlabel("epoch (0: start of fine-tuning)")
        ax.grid(alpha=0.3)
    axes[3].legend(fontsize=8)
    fig.suptitle(f"{title}: the learning paths during fine-tuning, {level}% damage (seed means, fixed batch)")
    fig.tight_layout()
    return fig


def draw_study_e2(e2: dict):
    """E2 (no pretraining, LSUV start, each model at its own best setting; figures/study.json's "e2"):
    per depth, the seed-mean training loss per epoch (log) with the common loss dashed, and the
    seed-mean validation error per epoch."""
    import matplotlib.pyplot as plt

    depths = list(e2["depths"])
    fig, axes = plt.subplots(2, len(depths), figsize=(5.4 * len(depths), 7.2), squeeze=False, sharex=True)
    for j, L in enumerate(depths):
        depth = e2["depths"][L]
        for m, r in depth["models"].items():
            style = dict(MODEL_STYLE[m], label=f"{m.upper()} (rate {r['best']['lr']:g}, momentum "
                                               f"{r['best']['momentum']:g})")
            loss, val = r["train_loss"]["mean"], r["val_error"]["mean"]
            axes[0, j].plot(range(1, len(loss) + 1), loss, lw=1.6, **style)
            axes[1, j].plot(range(1, len(val) + 1), val, lw=1.6, **style)
        if depth["common_loss"] is not None:
            axes[0, j].axhline(depth["common_loss"], color="0.4", ls="--", lw=1, label="common loss")
        seeds = sorted({r["train_loss"]["seeds"] for r in depth["models"].values()})
        axes[0, j].set_title(f"L = {L}: training loss ε (mean of {'-'.join(map(str, seeds))} seeds)")
        axes[0, j].set_yscale("log")
        axes[1, j].set_title(f"L = {L}: validation error (%)")
        axes[1, j].set_xlabel("epoch")
        axes[0, j].legend(fontsize=8)
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
    fig.suptitle("E2: no pretraining, LSUV start, constant rate (docs/claims.md)")
    fig.tight_layout()
    return fig


def draw_study_e3(e3: dict):
    """E3 (training with modality dropout; figures/study.json's "e3"): test error (%) against test-only
    damage of the right half, both halves (left) and the right half alone (right), mean ± 1 std over
    the paired seeds, one line per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, reading, title in ((axes[0], "left+right", "both halves"), (axes[1], "right", "right half only")):
        for m, r in e3["models"].items():
            levels = sorted(r[reading], key=int)
            mean = [r[reading][lv]["mean"] for lv in levels]
            std = [r[reading][lv]["std"] for lv in levels]
            style = MODEL_STYLE.get(m.split("-")[0], {})
            ax.errorbar([int(lv) for lv in levels], mean, yerr=std, marker="o", capsize=3, lw=1.6,
                        **dict(style, label=f"{m.upper()} ({r['right'][levels[0]]['seeds']} seeds)"))
        ax.set_title(f"test error, {title}")
        ax.set_xlabel("right half damaged at test (%)")
        ax.set_ylabel("test error (%)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("E3: trained with modality dropout (docs/claims.md)")
    fig.tight_layout()
    return fig


def draw_study_e4(e4: dict, paper: dict | None = None):
    """E4 (figures/study.json's "e4": {protocol: {"i2t": {method: mAP}, "t2i": ...}}): mAP per protocol
    and method, one panel per task, with the paper's values (``paper``: {task: {method: mAP}}) dashed."""
    import matplotlib.pyplot as plt

    protocols = list(e4)
    methods = [m for m in ("cca", "emf", "imf", "dmf") if any(m in e4[p]["i2t"] for p in protocols)]
    colors = {"cca": "#bcbd22", "emf": MODEL_STYLE["emf"]["color"], "imf": MODEL_STYLE["imf"]["color"],
              "dmf": MODEL_STYLE["dmf"]["color"]}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=False)
    width = 0.8 / max(1, len(methods))
    for ax, task, title in ((axes[0], "i2t", "image → text"), (axes[1], "t2i", "text → image")):
        for k, m in enumerate(methods):
            xs = [i + (k - (len(methods) - 1) / 2) * width for i in range(len(protocols))]
            ax.bar(xs, [e4[p][task].get(m, np.nan) for p in protocols], width, color=colors[m], label=m.upper())
        for m, v in (paper or {}).get(task, {}).items():
            ax.axhline(v, color=colors.get(m.lower(), "k"), ls="--", lw=1, label=f"paper {m}")
        ax.set_xticks(range(len(protocols)), protocols)
        ax.set_title(f"{title}: test mAP")
        ax.grid(alpha=0.3, axis="y")
    axes[1].legend(fontsize=8, ncol=2)
    fig.suptitle("E4: Table 2 under four Wiki protocols (docs/claims.md)")
    fig.tight_layout()
    return fig
