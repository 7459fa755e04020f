"""Section 4.1 of the paper: EMF vs IMF vs DMF on MNIST halves, Table 1 and Fig. 4.

Protocol (docs/mnist.md explains every choice):

* **Data.** The left and right halves of each digit (columns 0-13 and 14-27, 392 pixels each) are the
  two modalities. The 60,000 training images are split into training (the first 50,000) and
  validation (the last 10,000); the 10,000 test images are used only for reporting.
* **Damage.** A fraction {0, 30, 50, 70}% of the right half is set to zero, in one of the readings of
  :mod:`dmf_np.data.damage` (default: random pixels, in training and test images alike).
* **Models.** The paper's sizes: each half [392, 512, 128], shared [512, 256, 64], softmax on s_3.
  Layer-wise CD pretraining (:func:`dmf_np.pretrain.pretrain_fusion`), then fine-tuning by minibatch
  SGD with momentum (:func:`dmf_np.train.fit_classifier`).
* **Fairness.** One tuning budget for every model: the same grid of fine-tuning learning rates, each
  point trained on the clean training split and scored by its final validation error; each model then
  uses its own best rate everywhere. Everything else (pretraining, epochs, batch, momentum, seeds, data
  order) is identical across models. Every number is a mean and standard deviation over seeds.
* **Units of work** are (training condition, model, seed, learning rate); each has a directory in the
  run directory and is resumed from its checkpoints, or read back once done (see :mod:`.rundir`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import backend
from ..data.damage import KINDS, LEVELS, WHENS, DamageSpec, apply_mask, damage_mask, damage_seed
from ..data.mnist import Mnist, halves, to_float
from ..errors import DivergenceError
from ..fusion import Architecture, init_params
from ..io import load_checkpoint, save_checkpoint
from ..optim import SGD
from ..pretrain import CDConfig, pretrain_fusion
from ..train import error_rate, fit_classifier
from .rundir import RunDir
from .runner import Context, Unit, array_checksum, cell, choose_rate, read_plan, run_plan
from .runner import unit_dir as runner_unit_dir

MODELS = ("emf", "imf", "dmf")
CONDITIONS = ("left+right", "right")

# Table 1 of the paper: test error (%) by input condition, model and damage level of the right half
PAPER_TABLE1 = {
    "left+right": {"emf": {0: 1.90, 30: 2.60, 50: 4.70, 70: 12.20},
                   "imf": {0: 1.60, 30: 2.40, 50: 5.40, 70: 10.20},
                   "dmf": {0: 1.40, 30: 2.30, 50: 4.60, 70: 9.40}},
    "right": {"emf": {0: 51.00, 30: 53.50, 50: 63.40, 70: 70.30},
              "imf": {0: 51.30, 30: 54.30, 50: 63.30, 70: 82.90},
              "dmf": {0: 39.90, 30: 47.60, 50: 57.10, 70: 67.60}},
}


@dataclass(frozen=True)
class Preset:
    """Sizes, epochs and rates of one reproduction (the same for every model)."""

    name: str
    n_train: int | None        # first n images of the 50,000-image training split (None: all)
    n_val: int | None          # first n of the 10,000 validation images (None: all)
    n_test: int | None         # first n of the 10,000 test images (None: all)
    seeds: int                 # run seeds: seed, seed+1, ...
    pretrain_epochs: int       # CD epochs per RBM (0: no pretraining)
    finetune_epochs: int
    lr_grid: tuple             # fine-tuning learning rates tried for every model
    pretrain_lr: float = 0.1             # dmf_np.pretrain's defaults (Hinton's practical guide)
    pretrain_momentum: float = 0.9       # (0.5 for the first 5 epochs of each RBM)
    pretrain_weight_decay: float = 2e-4
    cd_k: int = 1
    batch_size: int = 100
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay: float = 1.0      # fine-tuning lr is multiplied by this after every epoch
    levels: tuple = LEVELS
    modality_hidden: tuple = (512, 128)  # the paper's sizes: each half [392, 512, 128] ...
    shared_sizes: tuple = (512, 256, 64)  # ... and the shared pathway [512, 256, 64]

    def unit_part(self) -> "Preset":
        """The fields one unit's numbers depend on: not the name, the seed count or the rate grid
        (a unit at rate 0.1 is the same unit whichever grid it was tried in)."""
        return replace(self, name="", seeds=1, lr_grid=())

    def pretrain_part(self) -> "Preset":
        """The fields layer-wise pretraining depends on: the unit part without fine-tuning's settings and
        the evaluation sets (a change of fine-tuning epochs reuses the pretrained weights)."""
        return replace(self.unit_part(), n_val=None, n_test=None, finetune_epochs=0, momentum=0.0,
                       weight_decay=0.0, lr_decay=1.0, levels=())

    def architecture(self, model: str) -> Architecture:
        """The network of ``model`` ('emf', 'imf', 'dmf') at this preset's sizes (two 392-pixel halves)."""
        sizes = (392,) + tuple(self.modality_hidden)
        return Architecture(model, (sizes, sizes), tuple(self.shared_sizes), 10, ("x", "y"))


PRESETS = {
    # README's main job: about 10 minutes on 2 idle CPU cores; its grid is the paper preset's without
    # the two rates that lost for every model there (0.03 too slow, 3 stuck at chance)
    "quick": Preset("quick", n_train=15_000, n_val=None, n_test=None, seeds=3, pretrain_epochs=2,
                    finetune_epochs=10, lr_grid=(0.1, 0.3, 1.0), lr_decay=0.9),
    # the faithful reproduction: all 50,000 training images; about an hour on 2 CPU cores
    "paper": Preset("paper", n_train=None, n_val=None, n_test=None, seeds=3, pretrain_epochs=3,
                    finetune_epochs=20, lr_grid=(0.03, 0.1, 0.3, 1.0, 3.0), lr_decay=0.9),
    # for tests and smoke runs: seconds (small hidden layers)
    "tiny": Preset("tiny", n_train=300, n_val=100, n_test=100, seeds=2, pretrain_epochs=1,
                   finetune_epochs=2, lr_grid=(0.03, 0.1), lr_decay=0.9, levels=(0, 50),
                   modality_hidden=(32, 16), shared_sizes=(32, 16, 8)),
}


@dataclass
class Options:
    """Everything that defines one run (besides the data)."""

    preset: Preset
    damage: DamageSpec = field(default_factory=DamageSpec)
    seed: int = 0
    backend: str = "numpy"
    show_progress: bool | None = None

    @property
    def seeds(self) -> list:
        return [self.seed + i for i in range(self.preset.seeds)]

    def protocol(self) -> dict:
        """What config.json pins: a run directory resumes only under the same protocol."""
        return {"experiment": "mnist-section-4.1", "preset": asdict(self.preset),
                "damage": asdict(self.damage), "seeds": self.seeds, "models": list(MODELS)}


# --- seeds and conditions ---------------------------------------------------------------------

def derived_seed(seed: int, purpose: str) -> int:
    """One integer seed per purpose ('init', 'pretrain', 'finetune'), the same for every model, so
    the three models of one run seed see the same data order (a paired comparison)."""
    code = {"init": 1, "pretrain": 2, "finetune": 3}[purpose]
    return int(np.random.SeedSequence([int(seed), code]).generate_state(1)[0])


def condition_name(kind: str, level: int) -> str:
    """The training condition of a unit: 'clean', or e.g. 'pixels30'."""
    return "clean" if level == 0 else f"{kind}{level}"


def train_conditions(opts: Options) -> list:
    """(kind, level) of every training condition the run needs, 'clean' first, levels ascending."""
    spec, levels = opts.damage, opts.preset.levels
    conds = [(spec.kind, 0)]
    if spec.when == "train+test":
        conds += [(spec.kind, d) for d in levels if d > 0]
    return conds


def readings(opts: Options) -> list:
    """The damage readings a run can report: its own, plus both test-only readings, which need only
    the clean-trained networks that every run trains anyway."""
    out = [opts.damage]
    for kind in KINDS:
        spec = DamageSpec(kind, "test")
        if spec not in out:
            out.append(spec)
    return out


# --- data --------------------------------------------------------------------------------------

@dataclass
class Split:
    """One split as float32 halves on the backend: left, right (N, 392); labels (N,)."""

    left: object
    right: object
    labels: object

    def xs(self, condition: str = "left+right"):
        """The network input for an input condition: both halves, or the right one with left = 0."""
        if condition == "left+right":
            return [self.left, self.right]
        if condition == "right":
            return [backend.array_module(self.left).zeros_like(self.left), self.right]
        raise ValueError(f"input condition must be one of {CONDITIONS}, got {condition!r}")


class MnistHalves:
    """The clean halves of each split (host, uint8), cut to the preset's sizes, and damaged copies on demand."""

    def __init__(self, mnist: Mnist, preset: Preset, xp):
        (tr, y_tr), (va, y_va) = mnist.split()
        te, y_te = mnist.test_images, mnist.test_labels
        self.xp = xp
        self.parts = {"train": (tr[:preset.n_train], y_tr[:preset.n_train]),
                      "val": (va[:preset.n_val], y_va[:preset.n_val]),
                      "test": (te[:preset.n_test], y_te[:preset.n_test])}

    def split(self, name: str, kind: str, level: int, seed: int) -> Split:
        """Split ``name`` with its right half damaged by (kind, level), the mask drawn from ``seed``."""
        images, labels = self.parts[name]
        left, right = (to_float(h) for h in halves(images))
        if level > 0:
            rng = np.random.default_rng(damage_seed(seed, level, name))
            right = apply_mask(right, damage_mask(right.shape[0], level, kind, rng))
        return Split(backend.to_device(left, self.xp, backend.DEFAULT_DTYPE),
                     backend.to_device(right, self.xp, backend.DEFAULT_DTYPE),
                     backend.to_device(labels.astype(np.int64), self.xp, None))


# --- one unit of work ---------------------------------------------------------------------------

def evaluate(params, split: Split, arch, condition: str = "left+right") -> float:
    """Test error (%) of a network on a split under an input condition."""
    return error_rate(params, split.xs(condition), split.labels, arch)


@dataclass(frozen=True)
class Pretrain(Unit):
    """Layer-wise CD pretraining of one (condition, model, seed): ``pretrained.npz``, which every
    learning rate of that network starts from."""

    RESULT = "pretrained.json"
    preset: Preset          # its unit part (:meth:`Preset.unit_part`)
    kind: str
    level: int
    model: str
    seed: int

    @property
    def path(self) -> tuple:
        return (condition_name(self.kind, self.level), self.model, f"seed{self.seed}")

    def cost(self) -> float:
        return self.preset.architecture(self.model).n_params() * self.preset.pretrain_epochs

    def run(self, ctx: Context, unit_dir, inputs) -> dict:
        p, arch = self.preset, self.preset.architecture(self.model)
        data = MnistHalves(ctx.data, p, backend.get_xp(ctx.settings["backend"]))
        params = init_params(arch, np.random.default_rng(derived_seed(self.seed, "init")), xp=data.xp)
        t0 = time.process_time()
        history = pretrain_fusion(params, arch, data.split("train", self.kind, self.level, self.seed).xs(),
                                  cd_config(p), gaussian_inputs=False, seed=derived_seed(self.seed, "pretrain"),
                                  checkpoint_dir=unit_dir / "pretrain", show_progress=ctx.show_progress, log=None)
        seconds = time.process_time() - t0
        save_checkpoint(unit_dir / "pretrained.npz", params,
                        {"history": history, "seconds": seconds, "fingerprint": ctx.fingerprint(self)})
        return {"cpu_seconds": seconds}


def cd_config(p: Preset) -> CDConfig:
    """The preset's CD settings (the same for every RBM of every model)."""
    return CDConfig(epochs=p.pretrain_epochs, batch_size=p.batch_size, lr=p.pretrain_lr,
                    momentum=p.pretrain_momentum, weight_decay=p.pretrain_weight_decay, k=p.cd_k)


def start_params(unit: Unit, arch, ctx: Context, xp) -> dict:
    """A network's starting point: its initialisation, or the weights its pretraining unit wrote."""
    params = init_params(arch, np.random.default_rng(derived_seed(unit.seed, "init")), xp=xp)
    for pre in unit.needs():
        path = runner_unit_dir(ctx.out, pre) / "pretrained.npz"
        arrays, meta = load_checkpoint(path, xp)
        if meta.get("fingerprint") != ctx.fingerprint(pre):
            raise ValueError(f"{path} was written under another protocol; delete it and rerun")
        params = {k: arrays[k] for k in params}
    return params


@dataclass(frozen=True)
class Fit(Unit):
    """Fine-tune one network at one learning rate and evaluate it (section 4.1's unit of work).

    Per epoch: training loss, validation and test error (left+right, the unit's own damage). At the
    end: errors under both input conditions on every test set the unit's readings need.
    """

    preset: Preset
    kind: str
    level: int
    model: str
    seed: int
    lr: float

    @property
    def path(self) -> tuple:
        return (condition_name(self.kind, self.level), self.model, f"seed{self.seed}", f"lr{self.lr:g}")

    def cost(self) -> float:
        return self.preset.architecture(self.model).n_params() * self.preset.finetune_epochs

    def needs(self) -> tuple:
        if self.preset.pretrain_epochs == 0:
            return ()
        return (Pretrain(self.preset.pretrain_part(), self.kind, self.level, self.model, self.seed),)

    def run(self, ctx: Context, unit_dir, inputs) -> dict:
        p, arch = self.preset, self.preset.architecture(self.model)
        data = MnistHalves(ctx.data, p, backend.get_xp(ctx.settings["backend"]))
        train, val, test = (data.split(s, self.kind, self.level, self.seed) for s in ("train", "val", "test"))
        params = start_params(self, arch, ctx, data.xp)
        t0 = time.time()
        history = fit_classifier(
            params, arch, train.xs(), train.labels, epochs=p.finetune_epochs, batch_size=p.batch_size,
            optimizer=SGD(self.lr, p.momentum, p.weight_decay), seed=derived_seed(self.seed, "finetune"),
            lr_decay=p.lr_decay, checkpoint=unit_dir / "finetune.npz", checkpoint_tag=ctx.fingerprint(self),
            show_progress=ctx.show_progress,
            eval_fn=lambda prm: {"val_error": evaluate(prm, val, arch), "test_error": evaluate(prm, test, arch)},
            desc="/".join(self.path))
        final = {"val_error": history["val_error"][-1], "test": {}}
        # test sets: the unit's own; a clean unit also serves the test-only readings of both kinds
        wanted = [(self.kind, self.level)] if self.level > 0 else [(k, d) for k in KINDS for d in p.levels]
        for k, d in wanted:
            ts = test if (k, d) == (self.kind, self.level) or d == 0 else data.split("test", k, d, self.seed)
            final["test"].setdefault(k, {})[str(d)] = {c: evaluate(params, ts, arch, c) for c in CONDITIONS}
        pre = sum(r["cpu_seconds"] for r in inputs.values())
        return {"unit": list(self.path[:3]), "lr": self.lr, "history": history, "final": final,
                "n_params": arch.n_params(), "seconds": {"pretrain": pre, "finetune": time.time() - t0}}


# --- the experiment -----------------------------------------------------------------------------

def tuning_units(opts: Options, model: str) -> list:
    """The rate grid of one model: clean data, the first seed."""
    p = opts.preset.unit_part()
    return [Fit(p, opts.damage.kind, 0, model, opts.seeds[0], lr) for lr in opts.preset.lr_grid]


def chosen_rate(opts: Options, model: str, done: dict):
    """The model's rate once its whole grid has finished (lowest validation error), else None."""
    grid = tuning_units(opts, model)
    if not all(u in done for u in grid):
        return None
    return choose_rate({u.lr: (None if done[u].diverged else done[u]["final"]["val_error"]) for u in grid})


def plan(opts: Options):
    """Section 4.1 as a plan for :func:`.runner.run_plan`: every model's grid, then, as soon as a model's
    rate is chosen, its units under every training condition and seed."""
    p = opts.preset.unit_part()

    def units(done: dict) -> list:
        out = []
        for model in MODELS:
            out += tuning_units(opts, model)
            lr = chosen_rate(opts, model, done)
            if lr is not None:
                out += [Fit(p, kind, level, model, seed, lr)
                        for kind, level in train_conditions(opts) for seed in opts.seeds]
        return out

    return units


def context(mnist: Mnist, out, opts: Options) -> Context:
    """What every unit of a run shares; the data's checksum and the backend enter every fingerprint."""
    checksum = array_checksum(mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels)
    return Context(str(Path(out).resolve()), mnist, {"backend": opts.backend, "dtype": "float32", "data": checksum},
                   show_progress=opts.show_progress)


def run_experiment(mnist: Mnist, out, opts: Options, log=None, report_only: bool = False, jobs: int = 1,
                   scheduler: str | None = None) -> dict:
    """Run (or resume) the whole protocol in run directory ``out``; returns the aggregated metrics.

    ``report_only=True`` trains nothing: it aggregates whatever units have finished. ``jobs`` > 1 or a
    ``scheduler`` ('local' or a Dask address) runs the units in parallel (:mod:`.runner`); the default
    runs them one after another in this process.
    """
    rd = RunDir(out)
    parallel = jobs != 1 or scheduler is not None
    # the runner runs every unit with one BLAS thread, serial runs too: config.json records that count
    rd.start(opts.protocol(), backend_name=opts.backend, units_blas_threads=1)
    log = log or rd.log
    ctx = context(mnist, out, opts)
    try:
        if report_only:
            return aggregate(read_plan(plan(opts), ctx, log), opts)
        n = {k: v[0].shape[0] for k, v in MnistHalves(mnist, opts.preset, np).parts.items()}
        log(f"MNIST halves: {n['train']} train, {n['val']} val, {n['test']} test images; preset "
            f"{opts.preset.name}; damage {opts.damage.kind}, {opts.damage.when}; seeds {opts.seeds}")
        worker_ctx = ctx if not parallel else replace(ctx, show_progress=False)
        done = run_plan(plan(opts), worker_ctx, jobs=jobs, scheduler=scheduler, log=log)
        tuning = {u for m in MODELS for u in tuning_units(opts, m)}
        failed = [u for u, r in done.items() if r.diverged and u not in tuning]  # a tuning rate may diverge
        if failed:
            raise DivergenceError(f"{'/'.join(failed[0].path)}: {done[failed[0]].diverged}")
        log(f"learning rates chosen on validation: { {m: chosen_rate(opts, m, done) for m in MODELS} }")
        metrics = aggregate(done, opts)
        rd.write_metrics(metrics)
        return metrics
    finally:
        rd.release()




def aggregate(done: dict, opts: Options) -> dict:
    """metrics.json: tuning, and for every reading the table (mean/std/seeds) and the mean curves,
    from the finished units only (missing ones are listed). ``done``: {Unit: Result}."""
    p, unit_preset = opts.preset, opts.preset.unit_part()
    grid_scores, chosen = {}, {}
    for m in MODELS:
        grid = {f"{u.lr:g}": done.get(u) for u in tuning_units(opts, m)}
        grid_scores[m] = {lr: None if r is None or r.diverged else r["final"]["val_error"] for lr, r in grid.items()}
        try:  # a model's rate is known once its whole grid has finished
            chosen[m] = chosen_rate(opts, m, done)
        except DivergenceError:
            chosen[m] = None
    metrics = {"protocol": opts.protocol(), "tuning": {"val_error": grid_scores, "chosen_lr": chosen},
               "readings": {}, "missing": []}
    for spec in readings(opts):
        table = {c: {m: {} for m in MODELS} for c in CONDITIONS}
        curves = {}
        for d in p.levels:
            for m in MODELS:
                lr = chosen.get(m)
                level = spec.train_level(d)
                kind = spec.kind if level > 0 else opts.damage.kind  # one clean unit serves every kind
                results = [done.get(Fit(unit_preset, kind, level, m, s, lr))
                           if lr is not None else None for s in opts.seeds]
                # finished, and evaluated on this reading's test set (a unit run under other levels may not be)
                ok = [r for r in results if r is not None and not r.diverged
                      and str(d) in r["final"]["test"].get(spec.kind, {})]
                if len(ok) < len(opts.seeds):
                    metrics["missing"].append(f"{spec.tag}: {d}% {m} ({len(ok)}/{len(opts.seeds)} seeds)")
                if not ok:
                    continue
                for c in CONDITIONS:
                    table[c][m][str(d)] = cell([r["final"]["test"][spec.kind][str(d)][c] for r in ok])
                if spec.when == "train+test":
                    curves.setdefault(str(d), {})[m] = mean_curves(ok)
        metrics["readings"][spec.tag] = {"damage": asdict(spec), "table": table,
                                         "curves": curves if spec.when == "train+test" else None}
    metrics["missing"] = sorted(set(metrics["missing"]))
    metrics["complete"] = not metrics["missing"]
    return metrics


def mean_curves(results: list) -> dict:
    """Per-epoch mean (and std over seeds) of training loss, test and validation error."""
    curve = {}
    for key in ("train_loss", "test_error", "val_error"):
        runs = np.array([r["history"][key] for r in results], dtype=float)
        curve[key] = runs.mean(axis=0).tolist()
        curve[key + "_std"] = runs.std(axis=0, ddof=1).tolist() if len(results) > 1 else None
    curve["seeds"] = len(results)
    return curve


def paired_differences(metrics: dict, reading: str, a: str, b: str) -> dict:
    """Model ``a``'s test error minus model ``b``'s, seed by seed, from aggregated metrics.

    The models of one seed share the data order, damage masks and seeds of every draw, so the
    difference per seed removes what the seeds share. Returns {input: {level: {"mean", "std" (ddof
    1), "a_better" (seeds where a's error is lower), "seeds"}}}; a cell where either model misses
    a seed is left out (the values could not be paired).
    """
    table = metrics["readings"][reading]["table"]
    out = {}
    for condition, by_model in table.items():
        for level, cell_a in by_model[a].items():
            cell_b = by_model[b].get(level)
            if cell_b is None or cell_a["seeds"] != cell_b["seeds"] or cell_a["seeds"] < len(
                    metrics["protocol"]["seeds"]):
                continue
            d = np.asarray(cell_a["values"]) - np.asarray(cell_b["values"])
            out.setdefault(condition, {})[level] = {
                "mean": float(d.mean()), "std": float(d.std(ddof=1)) if d.size > 1 else 0.0,
                "a_better": int((d < 0).sum()), "seeds": int(d.size)}
    return out


def with_overrides(preset: Preset, **changes) -> Preset:
    """A preset with some fields replaced (None values are ignored)."""
    return replace(preset, **{k: v for k, v in changes.items() if v is not None})


__all__ = ["MODELS", "PAPER_TABLE1", "PRESETS", "Preset", "Options", "run_experiment", "plan", "Fit", "Pretrain",
           "aggregate", "context", "read_plan", "readings", "paired_differences", "train_conditions", "MnistHalves",
           "Split", "WHENS"]
