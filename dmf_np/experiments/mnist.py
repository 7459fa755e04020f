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

import numpy as np

from .. import backend
from ..data.damage import KINDS, LEVELS, WHENS, DamageSpec, apply_mask, damage_mask, damage_seed
from ..data.mnist import Mnist, halves, to_float
from ..fusion import Architecture, init_params
from ..io import load_checkpoint, save_checkpoint
from ..errors import DivergenceError
from ..optim import SGD
from ..pretrain import CDConfig, pretrain_fusion
from ..train import error_rate, fit_classifier
from .parallel import make_executor, wait_all
from .rundir import RunDir

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


def pretrained_params(rd: RunDir, unit: tuple, arch, train: Split, seed: int, opts: Options, log) -> dict:
    """The unit's network after layer-wise CD pretraining (computed once, shared by all its rates)."""
    xp, p = backend.get_xp(opts.backend), opts.preset
    params = init_params(arch, np.random.default_rng(derived_seed(seed, "init")), xp=xp)
    if p.pretrain_epochs == 0:
        return params
    path = rd.unit(*unit) / "pretrained.npz"
    if path.is_file():
        arrays, _ = load_checkpoint(path, xp)
        return {k: arrays[k] for k in params}
    t0 = time.time()
    config = CDConfig(epochs=p.pretrain_epochs, batch_size=p.batch_size, lr=p.pretrain_lr,
                      momentum=p.pretrain_momentum, weight_decay=p.pretrain_weight_decay, k=p.cd_k)
    history = pretrain_fusion(params, arch, train.xs(), config, gaussian_inputs=False,
                              seed=derived_seed(seed, "pretrain"),
                              checkpoint_dir=rd.unit(*unit, "pretrain"), show_progress=opts.show_progress,
                              log=None)
    save_checkpoint(path, params, {"history": history, "seconds": time.time() - t0})
    log(f"pretrained {'/'.join(unit)} in {time.time() - t0:.0f}s")
    return params


def run_unit(rd: RunDir, data: MnistHalves, kind: str, level: int, model: str, seed: int, lr: float,
             opts: Options, log, tuning: bool = False) -> dict:
    """Pretrain + fine-tune one network, evaluate it; its result (read back if already done).

    Per epoch: training loss, validation and test error (left+right, the unit's own damage). At the
    end: errors under both input conditions on every test set the unit's readings need.
    """
    cond = condition_name(kind, level)
    unit = (cond, model, f"seed{seed}")
    lr_part = f"lr{lr:g}"
    done = rd.result(*unit, lr_part)
    if done is not None:
        return done
    p, arch = opts.preset, opts.preset.architecture(model)
    train = data.split("train", kind, level, seed)
    val = data.split("val", kind, level, seed)
    test = data.split("test", kind, level, seed)
    t0 = time.time()
    params = pretrained_params(rd, unit, arch, train, seed, opts, log)
    t_pre = time.time() - t0

    def per_epoch(prm):
        return {"val_error": evaluate(prm, val, arch), "test_error": evaluate(prm, test, arch)}

    t0 = time.time()
    try:
        history = fit_classifier(params, arch, train.xs(), train.labels, epochs=p.finetune_epochs,
                                 batch_size=p.batch_size, optimizer=SGD(lr, p.momentum, p.weight_decay),
                                 seed=derived_seed(seed, "finetune"), lr_decay=p.lr_decay, eval_fn=per_epoch,
                                 checkpoint=rd.unit(*unit, lr_part) / "finetune.npz",
                                 show_progress=opts.show_progress, desc=f"{model} {cond} seed{seed} lr{lr:g}")
    except DivergenceError as exc:
        if not tuning:
            raise
        result = {"unit": list(unit), "lr": lr, "diverged": str(exc)}
        rd.save_result(unit + (lr_part,), result)
        log(f"{'/'.join(unit)} lr={lr:g}: diverged ({exc})")
        return result
    final = {"val_error": history["val_error"][-1], "test": {}}
    # test sets: the unit's own; a clean unit also serves the test-only readings of both kinds
    wanted = [(kind, level)] if level > 0 else [(k, d) for k in KINDS for d in p.levels]
    for k, d in wanted:
        ts = test if (k, d) == (kind, level) or d == 0 else data.split("test", k, d, seed)
        final["test"].setdefault(k, {})[str(d)] = {c: evaluate(params, ts, arch, c) for c in CONDITIONS}
    result = {"unit": list(unit), "lr": lr, "history": history, "final": final, "n_params": arch.n_params(),
              "seconds": {"pretrain": t_pre, "finetune": time.time() - t0}}
    rd.save_result(unit + (lr_part,), result)
    log(f"{'/'.join(unit)} lr={lr:g}: train loss {history['train_loss'][-1]:.4f}, val {final['val_error']:.2f}%, "
        f"test {history['test_error'][-1]:.2f}% ({time.time() - t0:.0f}s fine-tuning)")
    return result


# --- the experiment -----------------------------------------------------------------------------

def tune(rd: RunDir, data: MnistHalves, opts: Options, log) -> dict:
    """The same learning-rate grid for every model, on clean data, first seed; the best by validation error."""
    seed, grid = opts.seeds[0], opts.preset.lr_grid
    kind = opts.damage.kind
    scores = {}
    for model in MODELS:
        scores[model] = {}
        for lr in grid:
            r = run_unit(rd, data, kind, 0, model, seed, lr, opts, log, tuning=True)
            scores[model][f"{lr:g}"] = None if "diverged" in r else r["final"]["val_error"]
    chosen = {}
    for model, by_lr in scores.items():
        ok = [(err, float(lr)) for lr, err in by_lr.items() if err is not None]
        if not ok:
            raise DivergenceError(f"{model}: every learning rate of the grid {grid} diverged")
        chosen[model] = min(ok)[1]  # lowest validation error; ties go to the smaller rate
    return {"val_error": scores, "chosen_lr": chosen, "seed": seed, "condition": "clean",
            "rule": "lowest validation error after the last fine-tuning epoch, per model, same grid for all"}


def run_experiment(mnist: Mnist, out, opts: Options, log=None, report_only: bool = False, jobs: int = 1,
                   scheduler: str | None = None) -> dict:
    """Run (or resume) the whole protocol in run directory ``out``; returns the aggregated metrics.

    ``report_only=True`` trains nothing: it aggregates whatever units have finished. ``jobs`` > 1 or a
    ``scheduler`` ('local' or a Dask address) runs the units in parallel (:func:`run_units_parallel`);
    the default runs them one after another in this process.
    """
    rd = RunDir(out)
    parallel = jobs != 1 or scheduler is not None  # units then run in workers limited to one BLAS thread
    rd.start(opts.protocol(), backend_name=opts.backend, units_blas_threads=1 if parallel else None)
    log = log or rd.log
    data = MnistHalves(mnist, opts.preset, backend.get_xp(opts.backend))
    if report_only:
        return aggregate(rd, opts)
    log(f"MNIST halves: {data.parts['train'][0].shape[0]} train, {data.parts['val'][0].shape[0]} val, "
        f"{data.parts['test'][0].shape[0]} test images; preset {opts.preset.name}; damage {opts.damage.kind}, "
        f"{opts.damage.when}; seeds {opts.seeds}")
    if jobs != 1 or scheduler is not None:
        run_units_parallel(rd, mnist, data, opts, log, jobs, scheduler)
    tuning = tune(rd, data, opts, log)  # after run_units_parallel: reads every unit back
    log(f"learning rates chosen on validation: {tuning['chosen_lr']}")
    for kind, level in train_conditions(opts):          # levels outermost: early levels finish first
        for seed in opts.seeds:
            for model in MODELS:
                run_unit(rd, data, kind, level, model, seed, tuning["chosen_lr"][model], opts, log)
        rd.write_metrics(aggregate(rd, opts))
    metrics = aggregate(rd, opts)
    rd.write_metrics(metrics)
    return metrics


def _pretrain_task(out, mnist: Mnist, opts: Options, kind: str, level: int, model: str, seed: int) -> None:
    """On a worker: a unit's pretraining (pretrained.npz), which all its learning rates then read."""
    rd = RunDir(out)
    data = MnistHalves(mnist, opts.preset, backend.get_xp(opts.backend))
    unit = (condition_name(kind, level), model, f"seed{seed}")
    pretrained_params(rd, unit, opts.preset.architecture(model), data.split("train", kind, level, seed), seed,
                      opts, rd.log)


def _unit_task(out, mnist: Mnist, opts: Options, kind: str, level: int, model: str, seed: int, lr: float,
               tuning: bool) -> dict:
    """On a worker: one unit (:func:`run_unit`), its result written into the run directory."""
    rd = RunDir(out)
    data = MnistHalves(mnist, opts.preset, backend.get_xp(opts.backend))
    return run_unit(rd, data, kind, level, model, seed, lr, opts, rd.log, tuning=tuning)


def run_units_parallel(rd: RunDir, mnist: Mnist, data: MnistHalves, opts: Options, log, jobs: int = 1,
                       scheduler: str | None = None) -> None:
    """Every unit of the protocol on ``jobs`` local processes or a Dask cluster (:mod:`.parallel`).

    Three waves, each waiting for the one before: (1) the pretraining of every (condition, model,
    seed), which the rates of a unit share (run once, not raced by its rates); (2) the tuning grid; (3)
    the final units at the rates chosen from (2). Each unit reads only its arguments and its own files
    and runs with one BLAS thread, so its result is the serial run's, bit for bit, wherever and in
    whatever order it ran; the run directory must be visible to every worker at the same path.
    """

    out = str(rd.path.resolve())
    worker_opts = replace(opts, show_progress=False)  # progress bars from many processes would interleave
    conditions, seed0 = train_conditions(opts), opts.seeds[0]
    with make_executor(jobs, scheduler) as ex:
        log(f"parallel units on {ex.description}")
        shared = ex.share(mnist)
        if opts.preset.pretrain_epochs > 0:
            wait_all(ex.submit(_pretrain_task, out, shared, worker_opts, kind, level, model, seed)
                     for kind, level in conditions for seed in opts.seeds for model in MODELS)
        wait_all(ex.submit(_unit_task, out, shared, worker_opts, opts.damage.kind, 0, model, seed0, lr, True)
                 for model in MODELS for lr in opts.preset.lr_grid)
        chosen = tune(rd, data, opts, log)["chosen_lr"]  # reads the tuning units back
        wait_all(ex.submit(_unit_task, out, shared, worker_opts, kind, level, model, seed, chosen[model], False)
                 for kind, level in conditions for seed in opts.seeds for model in MODELS)


def aggregate(rd: RunDir, opts: Options) -> dict:
    """metrics.json: tuning, and for every reading the table (mean/std/seeds) and the mean curves,
    from the finished units only (missing ones are listed)."""
    p = opts.preset
    clean, seed0 = condition_name(opts.damage.kind, 0), f"seed{opts.seeds[0]}"
    grid = {m: {f"{lr:g}": rd.result(clean, m, seed0, f"lr{lr:g}") for lr in p.lr_grid} for m in MODELS}
    grid_scores = {m: {lr: _val(r) for lr, r in by_lr.items()} for m, by_lr in grid.items()}
    chosen = {}
    for m in MODELS:  # a model's rate is known once its whole grid has finished
        ok = [(e, float(lr)) for lr, e in grid_scores[m].items() if e is not None]
        chosen[m] = min(ok)[1] if ok and all(r is not None for r in grid[m].values()) else None
    metrics = {"protocol": opts.protocol(), "tuning": {"val_error": grid_scores, "chosen_lr": chosen},
               "readings": {}, "missing": []}
    for spec in readings(opts):
        table = {c: {m: {} for m in MODELS} for c in CONDITIONS}
        curves = {}
        for d in p.levels:
            train_level = spec.train_level(d)
            cond = condition_name(spec.kind, train_level)
            for m in MODELS:
                lr = chosen.get(m)
                results = [rd.result(cond, m, f"seed{s}", f"lr{lr:g}") if lr is not None else None
                           for s in opts.seeds]
                # finished, and evaluated on this reading's test set (a unit run under other levels may not be)
                done = [r for r in results if r is not None and "final" in r
                        and str(d) in r["final"]["test"].get(spec.kind, {})]
                if len(done) < len(opts.seeds):
                    metrics["missing"].append(f"{spec.tag}: {d}% {m} ({len(done)}/{len(opts.seeds)} seeds)")
                if not done:
                    continue
                for c in CONDITIONS:
                    vals = [r["final"]["test"][spec.kind][str(d)][c] for r in done]
                    table[c][m][str(d)] = _stats(vals)
                if spec.when == "train+test":
                    curve = curves.setdefault(str(d), {}).setdefault(m, {})
                    for key in ("train_loss", "test_error", "val_error"):
                        runs = np.array([r["history"][key] for r in done], dtype=float)
                        curve[key] = runs.mean(axis=0).tolist()
                        curve[key + "_std"] = runs.std(axis=0, ddof=1).tolist() if len(done) > 1 else None
                    curve["seeds"] = len(done)
        metrics["readings"][spec.tag] = {"damage": asdict(spec), "table": table,
                                         "curves": curves if spec.when == "train+test" else None}
    metrics["missing"] = sorted(set(metrics["missing"]))
    metrics["complete"] = not metrics["missing"]
    return metrics


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


def _val(result):
    return None if result is None or "final" not in result else result["final"]["val_error"]


def _stats(values) -> dict:
    """mean, sample standard deviation (ddof=1; 0 for one value), number of seeds, the values."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "seeds": int(v.size), "values": v.tolist()}


def with_overrides(preset: Preset, **changes) -> Preset:
    """A preset with some fields replaced (None values are ignored)."""
    return replace(preset, **{k: v for k, v in changes.items() if v is not None})


__all__ = ["MODELS", "PAPER_TABLE1", "PRESETS", "Preset", "Options", "run_experiment", "run_units_parallel",
           "aggregate",
           "run_unit", "tune", "readings", "paired_differences", "train_conditions", "MnistHalves", "Split", "WHENS"]
