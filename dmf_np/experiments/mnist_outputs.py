"""The figures and tables of the MNIST experiment (Table 1, Fig. 4), written from a run's metrics.

:func:`write_outputs` draws every figure and table that the metrics of
:func:`dmf_np.experiments.mnist.run_experiment` allow, one set per damage reading, into the run's
figures/ directory (``python -m dmf_np reproduce fig4|table1`` calls it after training).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..data.damage import DamageSpec
from ..io import atomic_write_json, atomic_write_text
from ..plots import fig4_data, plot_fig4, table1_data, table1_markdown
from .mnist import PAPER_TABLE1


def output_suffix(spec: DamageSpec, preset: str) -> str:
    """'' for the default reading of the paper preset (figures/fig4.png ...), else '_<reading>[_<preset>]'."""
    if spec == DamageSpec() and preset == "paper":
        return ""
    return f"_{spec.tag}" + ("" if preset == "paper" else f"_{preset}")


def write_outputs(metrics: dict, run_figures: Path, preset: str, command: str, extra_dir=None) -> list:
    """Every figure and table the metrics allow, into the run's figures/ (and copied to extra_dir)."""
    written = []
    levels = metrics["protocol"]["preset"]["levels"]
    chosen = metrics["tuning"]["chosen_lr"]
    for tag, reading in metrics["readings"].items():
        spec = DamageSpec(**reading["damage"])
        suffix = output_suffix(spec, preset)
        seeds = len(metrics["protocol"]["seeds"])
        status = "complete" if not [m for m in metrics["missing"] if m.startswith(tag + ":")] else \
            "INCOMPLETE (levels/models marked 'not run' have not finished)"
        notes = (f"Test error (%) on MNIST, ours: mean ± sample std over {seeds} seeds; the paper's Table 1 in "
                 f"parentheses.  \nDamage reading: {spec.kind}, {spec.when}. Preset: {preset}. "
                 f"Fine-tuning learning rates chosen on the validation split from the grid "
                 f"{{{', '.join(f'{lr:g}' for lr in metrics['protocol']['preset']['lr_grid'])}}}: "
                 + ", ".join(f"{m.upper()} {lr:g}" if lr is not None else f"{m.upper()} (tuning unfinished)"
                             for m, lr in chosen.items())
                 + f".  \nStatus: {status}.  \nCommand: `{command}`")
        written.append(atomic_write_text(run_figures / f"table1{suffix}.md",
                                         table1_markdown(reading["table"], PAPER_TABLE1, levels, notes)))
        written.append(atomic_write_json(run_figures / f"table1{suffix}.json", table1_data(reading["table"])))
        if reading["curves"]:
            data = fig4_data(reading["curves"])
            written.append(atomic_write_json(run_figures / f"fig4{suffix}.json", data))
            title = (f"MNIST halves, {spec.kind} damage ({spec.when}), preset {preset}, mean over {seeds} seeds "
                     f"(bands: ±1 std)")
            written.append(plot_fig4(data, run_figures / f"fig4{suffix}.png", title, reading["curves"]))
    if extra_dir is not None:
        extra = Path(extra_dir)
        extra.mkdir(parents=True, exist_ok=True)
        for path in list(written):
            written.append(Path(shutil.copyfile(path, extra / path.name)))
    return written
