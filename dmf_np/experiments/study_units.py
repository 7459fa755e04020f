"""The study's units on the runner: a network's start, and its training.

* :class:`Start`: a network before fine-tuning. Its ``recipe`` is one of the CD pretraining variants
  (:data:`.study.VARIANTS`: 'A', 'B', "B'", 'C') or a start without pretraining ('glorot4':
  ``init_params``; 'glorot1': gain 1 everywhere; 'lsuv': LSUV on ``init_params``). ``adjust`` lists
  interventions applied after it (:func:`rescale_shared`, :func:`divide_fan_in`). It writes
  ``start.npz`` and the layer statistics of every hidden layer.
* :class:`Train`: fine-tuning from a Start by minibatch SGD, logging after every epoch the
  training loss, validation and test error, the CPU and wall seconds of the epoch's training, the
  layer statistics and the learning paths (:func:`.study.path_statistics`); at the end, per-image
  correctness on the test set. ``regime='dropout'`` trains on modality-dropout draws (E3's U3).

The seeds are :mod:`.mnist`'s (``derived_seed``), so a unit that repeats a first-round computation
gives its numbers bit for bit (tested against the first round's own unit code).
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, replace

import numpy as np

from .. import backend
from ..fusion import Architecture, init_params, uniform_init
from ..io import load_checkpoint, save_checkpoint
from ..optim import SGD
from ..pretrain import CDConfig
from ..train import fit_classifier, predict
from .mnist import CONDITIONS, MnistHalves, derived_seed, evaluate
from .runner import Context, Unit, unit_dir
from .study import VARIANTS, layer_statistics, lsuv_init, path_statistics, pretrain_variant
from .study_e3 import E3Plan, dropout_epochs, validation_draw

SCRATCH = ("glorot4", "glorot1", "lsuv")
PAPER_HIDDEN, PAPER_SHARED = (512, 128), (512, 256, 64)


@dataclass(frozen=True)
class Data:
    """Which MNIST rows a unit sees: the first n of the training, validation and test splits."""

    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class Net:
    """A network of the two MNIST halves: scheme and hidden widths (the paper's by default)."""

    scheme: str
    hidden: tuple = PAPER_HIDDEN
    shared: tuple = PAPER_SHARED

    def architecture(self) -> Architecture:
        halves = (392,) + tuple(self.hidden)
        return Architecture(self.scheme, (halves, halves), tuple(self.shared), 10, ("x", "y"))

    @property
    def name(self) -> str:
        if (tuple(self.hidden), tuple(self.shared)) == (PAPER_HIDDEN, PAPER_SHARED):
            return self.scheme
        return f"{self.scheme}-{'x'.join(map(str, self.hidden))}-{'x'.join(map(str, self.shared))}"


@dataclass(frozen=True)
class FanInNet(Net):
    """The same network with fan-in-normalised shared layers (``Architecture(fan_in_norm=True)``: each
    shared layer's summed input divided by the number k_l of weight blocks feeding it). A subclass,
    not a field of :class:`Net`, so that the plain networks' fingerprints stay what they were."""

    def architecture(self) -> Architecture:
        return replace(super().architecture(), fan_in_norm=True)

    @property
    def name(self) -> str:
        return super().name + "-fn"

    def plain(self) -> Net:
        return Net(self.scheme, self.hidden, self.shared)


@dataclass(frozen=True)
class Start(Unit):
    """A network before fine-tuning (see the module docstring)."""

    RESULT = "start.json"
    net: Net
    recipe: str
    seed: int
    data: Data = Data()
    level: int = 0                  # right-half damage of the images pretraining sees ('pixels')
    cd: CDConfig | None = None      # the CD settings of a pretraining recipe
    adjust: tuple = ()              # interventions after the recipe, in order
    stats_rows: int = 1000
    init_rows: int = 500            # LSUV's batch

    def __post_init__(self):
        if self.recipe not in (*VARIANTS, *SCRATCH):
            raise ValueError(f"recipe must be one of {VARIANTS + SCRATCH}, got {self.recipe!r}")
        if (self.recipe in VARIANTS) != (self.cd is not None):
            raise ValueError(f"recipe {self.recipe!r}: give cd settings exactly for the CD pretraining variants")

    @property
    def path(self) -> tuple:
        tag = "+".join([self.recipe] + [a[0] if len(a) == 1 else f"{a[0]}-{a[1]}" for a in self.adjust])
        return ("start", f"d{self.level}", self.net.name, tag.replace("'", "p"), f"seed{self.seed}")

    def needs(self) -> tuple:
        if self.adjust:  # an intervention starts from the plain start's weights (pretrained once, shared)
            return (self.base(),) + tuple(a[2] for a in self.adjust if a[0] == "rescale")
        if isinstance(self.net, FanInNet) and self.recipe in VARIANTS:
            return (self.plain_net(),)  # FN copies the plain network's RBM weights in unchanged
        return (self.imf(),) if self.recipe == "B'" else ()

    def plain_net(self) -> "Start":
        return replace(self, net=self.net.plain())

    def cost(self) -> float:
        return self.net.architecture().n_params() * (self.cd.epochs if self.cd and not self.adjust else 0.1)

    def base(self) -> "Start":
        """The same start without interventions."""
        return replace(self, adjust=())

    def imf(self) -> "Start":
        """B' starts from the same seed's pretrained IMF of the same sizes."""
        return replace(self, net=replace(self.net, scheme="imf"), recipe="A", adjust=())

    def run(self, ctx: Context, unit_dir_, inputs) -> dict:
        arch, data = self.net.architecture(), MnistHalves(ctx.data, self.data, backend.get_xp("numpy"))
        train = data.split("train", "pixels", self.level, self.seed)
        params = init_params(arch, np.random.default_rng(derived_seed(self.seed, "init")), xp=data.xp)
        t0, report = time.process_time(), {}
        if self.adjust:
            params = load_start(ctx, self.base())
        elif isinstance(self.net, FanInNet) and self.recipe in VARIANTS:
            params = load_start(ctx, self.plain_net())
        elif self.recipe in VARIANTS:
            imf = load_start(ctx, self.imf()) if self.recipe == "B'" else None
            report["history"] = pretrain_variant(self.recipe, params, arch, train.xs(), self.cd,
                                                 seed=derived_seed(self.seed, "pretrain"), imf_params=imf)
        elif self.recipe == "glorot1":
            params = uniform_init(arch.param_shapes(), arch.destination,
                                  np.random.default_rng(derived_seed(self.seed, "init")), xp=data.xp,
                                  gain=lambda key: 1.0)
        elif self.recipe == "lsuv":
            rows = [x[:self.init_rows] for x in train.xs()]
            report["lsuv"] = {k: list(v) for k, v in lsuv_init(params, rows, arch).items()}
        clean = [x[:self.stats_rows] for x in data.split("train", "pixels", 0, self.seed).xs()]
        for step in self.adjust:
            report.setdefault("adjust", []).append(apply_adjustment(step, params, arch, clean, inputs))
        stats = layer_statistics(params, [x[:self.stats_rows] for x in train.xs()], arch)
        save_checkpoint(unit_dir_ / "start.npz", params, {"fingerprint": ctx.fingerprint(self)})
        return {"layer_stats": stats, "cpu_seconds": time.process_time() - t0, **report}


def load_start(ctx: Context, start: Start) -> dict:
    """The parameters a finished Start unit wrote (refused if written under another protocol)."""
    path = unit_dir(ctx.out, start) / "start.npz"
    arrays, meta = load_checkpoint(path, backend.get_xp("numpy"))
    if meta.get("fingerprint") != ctx.fingerprint(start):
        raise ValueError(f"{path} was written under another protocol; delete it and rerun")
    return arrays


# --- interventions ----------------------------------------------------------------------------------

def feeding(arch: Architecture, l: int) -> list:
    """The weight matrices whose products are summed into shared layer s_l (Eq. 3-4: the fusion
    weights W^{m->s}_l at a fusion level, and W^s_{l-1} where the shared chain reaches s_l)."""
    keys = [arch.W_fuse(m, l) for m in range(arch.M)] if l in arch.fusion_levels() else []
    return keys + ([arch.W_sh(l - 1)] if arch.has_shared_chain(l) else [])


def rescale_shared(params: dict, arch: Architecture, l: int, target_std: float, xs) -> dict:
    """Multiply every weight feeding s_l and b^s_l by c = target / std(M_l): M_l is linear in them, so
    std(c M_l) = target exactly. Measured on ``xs`` through the forward pass (layers below as they are
    now). Returns {"layer", "before", "after", "factor"}; raises if the result misses by over 1%."""
    before = layer_statistics(params, xs, arch)[f"s_{l}"]["pre_std"]
    c = target_std / before
    for key in feeding(arch, l) + [arch.b_sh(l)]:
        params[key][...] = params[key] * params[key].dtype.type(c)
    after = layer_statistics(params, xs, arch)[f"s_{l}"]["pre_std"]
    if abs(after - target_std) > 0.01 * target_std:
        raise RuntimeError(f"rescaling s_{l} to std {target_std:.4g} gave {after:.4g}: more than 1% off")
    return {"layer": f"s_{l}", "before": before, "after": after, "factor": c}


def divide_fan_in(params: dict, arch: Architecture) -> dict:
    """Fan-in normalisation as an initialisation: divide every weight feeding s_l (not b^s_l) by k_l,
    the number of weight blocks that feed it. Returns {layer: k_l}."""
    out = {}
    for l in arch.shared_levels():
        keys = feeding(arch, l)
        for key in keys:
            params[key][...] = params[key] / params[key].dtype.type(len(keys))
        out[f"s_{l}"] = len(keys)
    return out


def apply_adjustment(step: tuple, params: dict, arch: Architecture, xs, inputs: dict) -> dict:
    """One intervention: ('rescale', l, target Start, target layer) puts s_l's pre-activation std at the
    target unit's std of that layer; ('divide_fan_in',) divides the shared layers' inputs by k_l."""
    if step[0] == "rescale":
        _, l, target, layer = step
        return rescale_shared(params, arch, l, inputs[target]["layer_stats"][layer]["pre_std"], xs)
    if step[0] == "divide_fan_in":
        return {"divide_fan_in": divide_fan_in(params, arch)}
    raise ValueError(f"unknown intervention {step[0]!r}")


# --- training -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Train(Unit):
    """Fine-tune a Start at one rate (U1 with pretraining, U2 without; see the module docstring)."""

    start: Start
    lr: float
    epochs: int = 20
    momentum: float = 0.9
    lr_decay: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 100
    path_rows: int = 500
    epoch_stats: bool = True        # layer statistics after every epoch (round 2), besides the paths

    @property
    def path(self) -> tuple:
        tail = f"lr{self.lr:g}-m{self.momentum:g}-e{self.epochs}-d{self.lr_decay:g}"
        return ("train",) + self.start.path[1:] + (tail,)

    def needs(self) -> tuple:
        return (self.start,)

    def cost(self) -> float:
        return self.start.net.architecture().n_params() * self.epochs

    def run(self, ctx: Context, unit_dir_, inputs) -> dict:
        s = self.start
        arch, data = s.net.architecture(), MnistHalves(ctx.data, s.data, backend.get_xp("numpy"))
        train, val, test = (data.split(n, "pixels", s.level, s.seed) for n in ("train", "val", "test"))
        params = {k: v for k, v in load_start(ctx, s).items()}
        fixed = ([x[:self.path_rows] for x in train.xs()], train.labels[:self.path_rows])
        stats_rows = [x[:s.stats_rows] for x in train.xs()]
        paths_before = path_statistics(params, *fixed, arch)
        clock = {"wall": time.perf_counter(), "cpu": time.process_time()}

        def per_epoch(prm):
            record = {"epoch_seconds": time.perf_counter() - clock["wall"],
                      "epoch_cpu_seconds": time.process_time() - clock["cpu"],
                      "val_error": evaluate(prm, val, arch), "test_error": evaluate(prm, test, arch),
                      "paths": path_statistics(prm, *fixed, arch)}
            if self.epoch_stats:
                record["layer_stats"] = layer_statistics(prm, stats_rows, arch)
            clock.update(wall=time.perf_counter(), cpu=time.process_time())
            return record

        history = fit_classifier(
            params, arch, train.xs(), train.labels, epochs=self.epochs, batch_size=self.batch_size,
            optimizer=SGD(self.lr, self.momentum, self.weight_decay), seed=derived_seed(s.seed, "finetune"),
            lr_decay=self.lr_decay, eval_fn=per_epoch, checkpoint=unit_dir_ / "finetune.npz",
            checkpoint_tag=ctx.fingerprint(self), show_progress=False)
        final = {"val_error": history["val_error"][-1],
                 "test": {c: evaluate(params, test, arch, c) for c in CONDITIONS},
                 "correct": {c: correctness(params, test, arch, c) for c in CONDITIONS}}
        return {"history": history, "final": final, "paths_before": paths_before, "n_params": arch.n_params()}


@dataclass(frozen=True)
class DropoutTrain(Train):
    """U3: fine-tune a clean pretrained Start on modality-dropout draws (E3's unit, :mod:`.study_e3`):
    each epoch a fresh draw of {both halves, left zeroed, right zeroed} x right-half damage levels;
    validation under one fixed draw; at the end, test error and per-image correctness under both input
    conditions at every test damage level."""

    train_levels: tuple = (0, 30, 50, 70)
    test_levels: tuple = (0, 30, 50, 70)
    val_draw_seed: int = 0

    @property
    def path(self) -> tuple:
        return ("dropout",) + super().path[1:]

    def run(self, ctx: Context, unit_dir_, inputs) -> dict:
        s, plan = self.start, E3Plan(train_levels=self.train_levels,
                                     test_levels=self.test_levels, val_draw_seed=self.val_draw_seed)
        arch, data = s.net.architecture(), MnistHalves(ctx.data, s.data, backend.get_xp("numpy"))
        train = data.split("train", "pixels", 0, s.seed)       # clean: the draws damage it per epoch
        val = validation_draw(data.split("val", "pixels", 0, s.seed), plan)
        params, timer = dict(load_start(ctx, s)), {}
        history = fit_classifier(
            params, arch, train.xs(), train.labels, epochs=self.epochs, batch_size=self.batch_size,
            optimizer=SGD(self.lr, self.momentum, self.weight_decay), seed=derived_seed(s.seed, "finetune"),
            lr_decay=self.lr_decay, eval_fn=lambda prm: {"val_error": evaluate(prm, val, arch)},
            checkpoint=unit_dir_ / "finetune.npz", checkpoint_tag=ctx.fingerprint(self), show_progress=False,
            epoch_inputs=dropout_epochs(train, s.seed, plan, timer))
        test, correct = {c: {} for c in CONDITIONS}, {c: {} for c in CONDITIONS}
        for level in self.test_levels:
            split = data.split("test", "pixels", level, s.seed)   # E1's test masks of this seed and level
            for c in CONDITIONS:
                test[c][str(level)] = evaluate(params, split, arch, c)
                correct[c][str(level)] = correctness(params, split, arch, c)
        return {"history": history, "final": {"val_error": history["val_error"][-1], "test": test,
                                              "correct": correct}, "seconds": {"draws": timer.get("draws", 0.0)}}


def correctness(params, split, arch, condition: str) -> str:
    """Per test image, 1 if the network's class is right: packed bits, base64 (10,000 images: 1.7 kB)."""
    right = backend.to_host(predict(params, split.xs(condition), arch)) == backend.to_host(split.labels)
    return base64.b64encode(np.packbits(right.astype(np.uint8))).decode()


def unpack_correct(text: str, n: int) -> np.ndarray:
    """The boolean per-image correctness that :func:`correctness` packed, for ``n`` images."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


__all__ = ["Data", "Net", "FanInNet", "Start", "Train", "DropoutTrain", "rescale_shared", "divide_fan_in", "feeding",
           "correctness", "unpack_correct", "load_start"]
