"""Table 2 of the paper: cross-modal retrieval on Wiki (section 4.3), with our own baselines.

``python -m dmf_np reproduce table2 --wiki-dir DIR [--preset quick|paper] [--out RUN] [--figures DIR]``

Protocol (the paper's, made precise where it is silent):

1. Split: the 2,866 pairs (original train and test lists pooled) are divided at random, seeded, into
   25% queries and 75% retrieval set; repeated for ``splits`` seeds; mean and standard deviation.
2. Training: every model sees the retrieval set only, without labels (the networks: optional RBM
   pretraining, then reconstruction training with one modality zeroed at random per example).
3. Tuning: each method (CCA, EMF, IMF, DMF) gets the SAME budget, a grid of 4 configurations,
   scored on a validation division of the retrieval set (25% of it as validation queries, the
   rest as validation retrieval set and training data); the best configuration by the mean of the
   two validation mAPs (default protocol) is retrained on the whole retrieval set and evaluated
   once on the queries. The queries take part in nothing else.
4. Retrieval: an image query (I2T) ranks the texts of the retrieval set, a text query (T2I) its
   images; relevant = same category; AP over the full ranking, mAP over all queries. Distance: cosine
   of joint representations centred on the mean of the retrieval items' representations.
5. Joint representations from a single modality, two protocols:
   ``encode``: s_L of the input with the other modality zeroed;
   ``reconstruct`` (default, the paper's "reconstruct both modalities based on the query modality"):
   decode the missing modality from the present one, then encode [present, reconstructed].
   Items of the retrieval set are represented the same way from their own single modality.
   CCA has no decoder; its one number stands in both protocols.
6. Retrieval-set items, two readings (``--items``): ``single`` (default, the task above: an item
   is seen through the other modality only) and ``paired`` (NOT the default, and a different,
   easier task: each item is represented from BOTH of its modalities, the joint code of the pair,
   while the query still carries one modality; the retrieval set then leaks each item's second
   modality, so I2T and T2I rank the same joint item codes). For CCA a paired item is the mean of
   its two canonical projections. It exists to test a reading of the paper's protocol, not to
   replace ours.
7. Rankings (``--ranking``, distances in the joint space; see :data:`RANKINGS`); with
   ``--explore-rankings`` every (items, ranking) pair is scored on validation in the same run and
   each gets its own validation-chosen configuration, so they can be compared without the queries.
   A ranking may carry a cut, ``cosine@50``: the same ranking scored by mAP over its top 50
   (:func:`dmf_np.retrieval.average_precision`); ``Options.also`` adds such readings to the report.
8. Splits (``split``): ``random`` (the default, 1 above) or ``original``, the data set's own
   2,173 training / 693 test pairs (study E4, docs/claims.md): train on the training pairs, and the
   test pairs are both the queries and the retrieval items (a query's own partner is then one of the
   relevant items). Validation mirrors it: a fixed 25% of the training pairs (seeded by ``seed``)
   are both validation queries and validation items, the other 75% train. The ``splits`` repeats then
   differ only in the networks' seeds (initialisation, data order).

Preprocessing is part of each grid: 'minmax' (each feature divided by its maximum on the training
data: values in [0, 1], sigmoid outputs, cross-entropy, Bernoulli RBMs) or 'standardise' (zero mean,
unit variance: identity outputs, squared error, Gaussian RBMs). The reconstruction loss of each
modality is weighted by 128 / its dimension so that the 10 text features count as much as the
128 image features.

**Units of work** (:mod:`.runner`): a :class:`Tune` unit fits one grid configuration of one method on
one split's validation training rows and scores it on the validation queries (3); once a method's
grid has finished, :func:`choose_config` picks a configuration per reading and a :class:`Final` unit
retrains it on the training rows and scores the queries. Each unit's files carry its fingerprint
(spec, backend, dtype, the data's checksum), so a resumed run reuses only units of its own protocol.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from .. import backend
from ..cca import cca_transform_x, cca_transform_y, fit_cca
from ..data.wiki import WikiData, original_split, query_split
from ..errors import DivergenceError
from ..fusion import Architecture, init_params
from ..generative import encode, init_decoder, reconstruct
from ..generative_train import fit_generative
from ..optim import SGD
from ..pretrain import CDConfig, pretrain_fusion
from ..retrieval import distance_matrix, map_of, relevance_ranked, retrieval_map
from .rundir import RunDir
from .runner import Context, Unit, array_checksum, cell, choose_rate, read_plan, run_plan

METHODS = ("cca", "emf", "imf", "dmf")
NETWORKS = ("emf", "imf", "dmf")
PROTOCOLS = ("reconstruct", "encode")
DEFAULT_PROTOCOL = "reconstruct"
ITEMS = ("single", "paired")
TASKS = ("i2t", "t2i")
# How queries and items are compared in the joint space. Every one applies identically to every
# method (CCA's canonical variates included). The "modality mean" of a query is the mean of the
# retrieval set's representations of the query's own modality (the items, seen through that modality).
RANKINGS = {"cosine": "cosine, centred on the retrieval items' mean",
            "cosine-modality": "cosine, each side centred on its own modality's mean over the retrieval set",
            "cosine-raw": "cosine, uncentred",
            "euclidean": "Euclidean distance"}
DEFAULT_CRITERION = ("single", "cosine")
SPLITS = ("random", "original")
QUERY_FRACTION = 0.25
PAPER = {"i2t": {"CCA": 0.2490, "CMFH": 0.2551, "LCFS": 0.2798, "Corr-Full-AE": 0.2634, "DMF": 0.2921},
         "t2i": {"CCA": 0.1960, "CMFH": 0.5407, "LCFS": 0.2141, "Corr-Full-AE": 0.5418, "DMF": 0.5612}}

# The network: image [128, 256, 128], text [10, 64, 64], shared [256, 128, 32] (s_L: 32 dimensions).
MODALITY_SIZES = ((128, 256, 128), (10, 64, 64))
SHARED_SIZES = (256, 128, 32)
TEXT_WEIGHT = MODALITY_SIZES[0][0] / MODALITY_SIZES[1][0]  # 128 / 10: text counts as much as image


# --- presets ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NetConfig:
    """One point of the networks' grid (3): preprocessing, fine-tuning rate, epochs (None: the preset's)."""

    preprocessing: str
    lr: float
    epochs: int | None = None

    def as_dict(self) -> dict:
        """As config.json and the tables record it (no 'epochs' key where the preset's apply)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CcaConfig:
    """One point of CCA's grid (3): preprocessing and the ridge added to both covariances."""

    preprocessing: str
    reg: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    """Grids and training settings of one reproduction (the same for every method)."""

    name: str
    splits: int                 # repeats: random splits, or network seeds of the original split
    pretrain_epochs: int        # CD epochs per RBM (0: no pretraining)
    net_grid: tuple             # NetConfig per point: the networks' tuning budget ...
    cca_grid: tuple             # ... and CCA's, of the same size (3)
    batch_size: int = 100
    momentum: float = 0.9
    weight_decay: float = 1e-4
    epochs: int | None = None   # reconstruction epochs of a NetConfig that names none
    modality_sizes: tuple = MODALITY_SIZES
    shared_sizes: tuple = SHARED_SIZES
    text_weight: float | None = None        # None: TEXT_WEIGHT
    missing_probs: tuple | bool | None = None  # fit_generative's draw of the zeroed modality

    BASE = ("splits", "pretrain_epochs", "batch_size", "momentum", "weight_decay", "net_grid", "cca_grid")

    def grid(self, method: str) -> tuple:
        return self.cca_grid if method == "cca" else self.net_grid

    def unit_part(self) -> "Preset":
        """The fields a network unit's numbers depend on: not the name, the repeats or the grids (a
        unit's own configuration is in its spec)."""
        return replace(self, name="", splits=0, net_grid=(), cca_grid=())

    def settings(self) -> dict:
        """The preset as config.json records it: the base keys, plus each other field that differs
        from its default (the layout of every Table 2 run directory so far)."""
        out = {k: getattr(self, k) for k in self.BASE}
        out["net_grid"], out["cca_grid"] = ([c.as_dict() for c in out[g]] for g in ("net_grid", "cca_grid"))
        for f in fields(self):
            if f.name not in self.BASE and f.name != "name" and getattr(self, f.name) != f.default:
                out[f.name] = getattr(self, f.name)
        return out


def with_overrides(preset: Preset, overrides: dict | None = None, splits: int | None = None) -> Preset:
    """``preset`` with some settings replaced; grids may be given as lists of dicts (JSON-style), as in
    :meth:`Preset.settings`. Unknown keys are refused by name."""
    changes = dict(overrides or {})
    unknown = sorted(set(changes) - {f.name for f in fields(Preset)} - {"name"})
    if unknown:
        raise ValueError(f"unknown Table 2 setting(s) {unknown}; choose from {[f.name for f in fields(Preset)][1:]}")
    for key, kind in (("net_grid", NetConfig), ("cca_grid", CcaConfig)):
        if key in changes:
            changes[key] = tuple(kind(**c) if isinstance(c, dict) else c for c in changes[key])
    if "modality_sizes" in changes:
        changes["modality_sizes"] = tuple(tuple(s) for s in changes["modality_sizes"])
    for key in ("shared_sizes", "missing_probs"):
        if isinstance(changes.get(key), (list, tuple)):
            changes[key] = tuple(changes[key])
    if splits is not None:
        changes["splits"] = int(splits)
    return replace(preset, **changes)


def preset_from_settings(name: str, settings: dict) -> Preset:
    """The preset a run directory's config.json records (:meth:`Preset.settings`), rebuilt."""
    required = {"net_grid": (), "cca_grid": (), "splits": 0, "pretrain_epochs": 0}
    return with_overrides(Preset(name, **required), settings)


PRESETS = {
    # The grids have 4 configurations for every method: the same tuning budget. The networks' grid
    # spans both preprocessings and the training length; CCA's spans its ridge.
    "paper": Preset("paper", splits=5, pretrain_epochs=10,
                    net_grid=(NetConfig("standardise", 0.002, 150), NetConfig("standardise", 0.002, 400),
                              NetConfig("standardise", 0.004, 300), NetConfig("minmax", 0.01, 300)),
                    cca_grid=tuple(CcaConfig("standardise", r) for r in (0.01, 0.1, 0.3, 1.0))),
    "quick": Preset("quick", splits=2, pretrain_epochs=5,
                    net_grid=(NetConfig("standardise", 0.004, 100), NetConfig("minmax", 0.01, 100)),
                    cca_grid=tuple(CcaConfig("standardise", r) for r in (0.01, 0.3))),
}


# --- preprocessing ------------------------------------------------------------------------------

def fit_preprocessing(kind: str, image, text) -> dict:
    """Statistics of the training rows for 'minmax' or 'standardise' (see the module docstring)."""
    if kind == "minmax":
        return {"kind": kind, "scale": [np.maximum(a.max(axis=0), 1e-12) for a in (image, text)]}
    if kind == "standardise":
        return {"kind": kind, "mean": [a.mean(axis=0) for a in (image, text)],
                "std": [a.std(axis=0) + 1e-8 for a in (image, text)]}
    raise ValueError(f"unknown preprocessing {kind!r}; choose 'minmax' or 'standardise'")


def apply_preprocessing(pre: dict, image, text) -> list:
    """[image, text] transformed with the training statistics (minmax clipped to [0, 1])."""
    if pre["kind"] == "minmax":
        return [np.clip(a / s, 0.0, 1.0) for a, s in zip((image, text), pre["scale"])]
    return [(a - m) / s for a, m, s in zip((image, text), pre["mean"], pre["std"])]


def output_kind(preprocessing: str) -> str:
    return "bernoulli" if preprocessing == "minmax" else "gaussian"


# --- the methods: fit on training rows, represent single-modality inputs -------------------------

def network_architecture(scheme: str, preset: Preset | None = None) -> Architecture:
    preset = preset or PRESETS["paper"]
    return Architecture(scheme, preset.modality_sizes, preset.shared_sizes, None, ("img", "txt"))


def fit_network(scheme: str, config: NetConfig, preset: Preset, image, text, seed: int, xp, checkpoint=None,
                show_progress=None) -> dict:
    """Pretrain (optional) and train a generative network on the rows given; returns its state."""
    pre = fit_preprocessing(config.preprocessing, image, text)
    xs = [backend.to_device(a, xp, backend.DEFAULT_DTYPE) for a in apply_preprocessing(pre, image, text)]
    arch = network_architecture(scheme, preset)
    out = output_kind(config.preprocessing)
    seeds = backend.spawn_seeds(seed, 3)
    params = init_params(arch, np.random.default_rng(seeds[0]), xp=xp)
    if preset.pretrain_epochs:
        cd = CDConfig(epochs=preset.pretrain_epochs, batch_size=preset.batch_size)
        pretrain_fusion(params, arch, xs, cd, gaussian_inputs=out == "gaussian", seed=seeds[1], log=None,
                        show_progress=show_progress,
                        checkpoint_dir=None if checkpoint is None else Path(checkpoint).parent / "pretrain")
    # tied initialisation: the decoder starts as the transposes of the (pretrained) encoder
    params.update(init_decoder(arch, None, xp, encoder_params=params))
    weights = (1.0, TEXT_WEIGHT if preset.text_weight is None else preset.text_weight)
    epochs = preset.epochs if config.epochs is None else config.epochs
    hist = fit_generative(params, arch, xs, out, epochs=epochs, batch_size=preset.batch_size,
                          optimizer=SGD(config.lr, preset.momentum, preset.weight_decay),
                          seed=seeds[2], weights=weights, missing_probs=preset.missing_probs,
                          checkpoint=checkpoint, checkpoint_every=25, show_progress=show_progress,
                          desc=f"{scheme} reconstruct")
    return {"kind": "network", "arch": arch, "params": params, "pre": pre, "outputs": (out, out), "history": hist}


def fit_method(method: str, config, preset: Preset | None, image, text, seed: int, xp, checkpoint=None,
               show_progress=None) -> dict:
    """Fit one method at one grid configuration (CCA: its ridge; a network: :func:`fit_network`)."""
    if method == "cca":
        pre = fit_preprocessing(config.preprocessing, image, text)
        x, y = apply_preprocessing(pre, image, text)
        return {"kind": "cca", "model": fit_cca(backend.to_device(x, xp), backend.to_device(y, xp), reg=config.reg),
                "pre": pre}
    return fit_network(method, config, preset, image, text, seed, xp, checkpoint, show_progress)


def represent(model: dict, image, text, protocol: str, xp) -> tuple:
    """(image-side, text-side) joint representations, each computed from its own modality alone."""
    x, y = (backend.to_device(a, xp, backend.DEFAULT_DTYPE) for a in apply_preprocessing(model["pre"], image, text))
    if model["kind"] == "cca":  # canonical variates scaled by the canonical correlations
        m = model["model"]
        return cca_transform_x(m, x.astype(xp.float64), 1.0), cca_transform_y(m, y.astype(xp.float64), 1.0)
    arch, params, outs = model["arch"], model["params"], model["outputs"]
    if protocol == "encode":
        return encode(params, [x, y], arch, [True, False]), encode(params, [x, y], arch, [False, True])
    if protocol == "reconstruct":
        y_from_x = reconstruct(params, [x, y], arch, outs, [True, False])[1]
        x_from_y = reconstruct(params, [x, y], arch, outs, [False, True])[0]
        return encode(params, [x, y_from_x], arch), encode(params, [x_from_y, y], arch)
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")


def represent_pairs(model: dict, image, text, xp):
    """The joint representation of each pair from BOTH its modalities: (N, d).

    For the ``paired`` items reading only (module docstring, 6). Networks: s_L of [image, text], both
    present. CCA: the mean of the two canonical projections (each scaled by the correlations).
    """
    x, y = (backend.to_device(a, xp, backend.DEFAULT_DTYPE) for a in apply_preprocessing(model["pre"], image, text))
    if model["kind"] == "cca":
        m = model["model"]
        return 0.5 * (cca_transform_x(m, x.astype(xp.float64), 1.0) + cca_transform_y(m, y.astype(xp.float64), 1.0))
    return encode(model["params"], [x, y], model["arch"])


# --- rankings and scores ------------------------------------------------------------------------

def parse_ranking(ranking: str) -> tuple:
    """'cosine' -> ('cosine', None); 'cosine@50' -> ('cosine', 50): a ranking of :data:`RANKINGS`,
    scored over its top 50 only (mAP@50) when a cut is given."""
    base, at, top = str(ranking).partition("@")
    if base not in RANKINGS or (at and not (top.isdigit() and int(top) > 0)):
        raise ValueError(f"unknown ranking {ranking!r}; choose one of {tuple(RANKINGS)}, optionally with a "
                         f"cut '@R' (R a positive integer, e.g. 'cosine@50')")
    return base, int(top) if at else None


def ranking_text(ranking: str) -> str:
    """The description of a ranking, its cut included ('cosine@50')."""
    base, top = parse_ranking(ranking)
    return RANKINGS[base] + ("" if top is None else f"; mAP over the top {top} of the ranking")


def ranking_maps(queries, items, query_labels, item_labels, rankings, query_modality_mean) -> dict:
    """{ranking: mAP} of ``items`` ranked for each of ``queries`` under each of ``rankings`` (names of
    :data:`RANKINGS`, with '@R' for mAP@R). Each distinct ranking is computed once, however many cuts
    of it are scored."""
    xp = backend.array_module(queries)
    parsed = {r: parse_ranking(r) for r in rankings}
    out = {}
    for base in dict.fromkeys(b for b, _ in parsed.values()):
        if base == "euclidean":
            d = distance_matrix(queries, items, "euclidean")
        elif base == "cosine-modality":
            d = distance_matrix(queries, items, "cosine", query_centre=query_modality_mean)
        elif base == "cosine-raw":
            d = distance_matrix(queries, items, "cosine", centre=xp.zeros(items.shape[1], dtype=items.dtype))
        else:
            d = distance_matrix(queries, items, "cosine")
        relevance = relevance_ranked(d, query_labels, item_labels)
        out.update({r: map_of(relevance, top)[0] for r, (b, top) in parsed.items() if b == base})
    return {r: out[r] for r in rankings}


def ranking_map(queries, items, query_labels, item_labels, ranking: str, query_modality_mean) -> float:
    """mAP of ``items`` ranked for each of ``queries`` under one of :data:`RANKINGS` (with '@R': mAP@R)."""
    return ranking_maps(queries, items, query_labels, item_labels, [ranking], query_modality_mean)[ranking]


def evaluate_all(model: dict, data, query_idx, item_idx, xp, rankings=tuple(RANKINGS)) -> dict:
    """{items: {ranking: {protocol: {"i2t": mAP, "t2i": mAP}}}} of queries against the items.

    items 'single': an image query ranks the items' text representations, a text query their image
    representations. items 'paired': both rank the items' joint codes (:func:`represent_pairs`).
    """
    ql, rl = data.labels[query_idx], data.labels[item_idx]
    joint = represent_pairs(model, data.image[item_idx], data.text[item_idx], xp)
    out = {items: {r: {} for r in rankings} for items in ITEMS}
    for protocol in PROTOCOLS:
        qi, qt = represent(model, data.image[query_idx], data.text[query_idx], protocol, xp)
        ri, rt = represent(model, data.image[item_idx], data.text[item_idx], protocol, xp)
        scores = {("single", "i2t"): ranking_maps(qi, rt, ql, rl, rankings, ri.mean(axis=0)),
                  ("single", "t2i"): ranking_maps(qt, ri, ql, rl, rankings, rt.mean(axis=0)),
                  ("paired", "i2t"): ranking_maps(qi, joint, ql, rl, rankings, ri.mean(axis=0)),
                  ("paired", "t2i"): ranking_maps(qt, joint, ql, rl, rankings, rt.mean(axis=0))}
        for (items, task), by_ranking in scores.items():
            for r, value in by_ranking.items():
                out[items][r].setdefault(protocol, {})[task] = value
    return out


def evaluate(model: dict, data, query_idx, item_idx, xp) -> dict:
    """{protocol: {"i2t": mAP, "t2i": mAP}} of queries ``query_idx`` against items ``item_idx``
    (the default reading: single-modality items, centred cosine)."""
    out = {}
    for protocol in PROTOCOLS:
        qi, qt = represent(model, data.image[query_idx], data.text[query_idx], protocol, xp)
        ri, rt = represent(model, data.image[item_idx], data.text[item_idx], protocol, xp)
        ql, rl = data.labels[query_idx], data.labels[item_idx]
        out[protocol] = {"i2t": retrieval_map(qi, rt, ql, rl), "t2i": retrieval_map(qt, ri, ql, rl)}
    return out


def validation_score(scores: dict) -> float:
    """What tuning maximises: the mean of the two validation mAPs under the default protocol."""
    s = scores[DEFAULT_PROTOCOL]
    return 0.5 * (s["i2t"] + s["t2i"])


def choose_config(scores: dict) -> int:
    """The grid index whose validation scores (``{index: {protocol: {task: mAP}}}``, None where the
    configuration diverged) have the highest :func:`validation_score`; ties go to the earlier index.

    It is :func:`.runner.choose_rate` (lowest error, ties to the smaller key) on the negated scores, so
    every experiment chooses by the same rule. Raises DivergenceError when every configuration diverged.
    """
    try:
        return int(choose_rate({j: None if s is None else -validation_score(s) for j, s in scores.items()}))
    except DivergenceError:
        raise DivergenceError(f"every configuration of the grid {sorted(scores)} diverged on validation") from None


# --- which pairs ---------------------------------------------------------------------------------

def split_indices(data, split: str, seed: int, split_seed: int) -> dict:
    """Index arrays of one split: queries, items (ranked for them), train (fits the final model), and
    their validation counterparts val_query, val_items, val_train (module docstring, 1 and 8)."""
    if split == "random":
        q_idx, r_idx = query_split(len(data), QUERY_FRACTION, split_seed)
        # validation: a held-out slice of the retrieval set plays the queries, the rest trains
        v_pos, t_pos = query_split(len(r_idx), QUERY_FRACTION, split_seed + 1)
        return {"query": q_idx, "items": r_idx, "train": r_idx,
                "val_query": r_idx[v_pos], "val_items": r_idx[t_pos], "val_train": r_idx[t_pos]}
    if split == "original":
        train, test = original_split(data)
        v_pos, t_pos = query_split(len(train), QUERY_FRACTION, seed)  # one carve for every repeat
        return {"query": test, "items": test, "train": train,
                "val_query": train[v_pos], "val_items": train[v_pos], "val_train": train[t_pos]}
    raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")


@dataclass(frozen=True)
class Pairs:
    """The pairs of one repeat: the split's kind, its index k, the run's seed and the repeat's seed."""

    kind: str          # 'random' or 'original' (module docstring, 1 and 8)
    k: int
    seed: int          # the run's seed: the original split's validation carve
    split_seed: int    # spawn_seeds(seed, splits)[k]: the random split and every seed of the repeat

    def indices(self, data) -> dict:
        return split_indices(data, self.kind, self.seed, self.split_seed)


def criterion_key(criterion) -> str:
    return f"{criterion[0]}/{criterion[1]}"


def rankings_for(criteria) -> tuple:
    """The rankings a unit scores for the (items, ranking) readings ``criteria``: theirs and the default's
    (scoring, not training, takes most of a small unit's time), in the order of :data:`RANKINGS`, each
    cut after its ranking. A set in a fixed order: it enters the units' specs, and what a unit scores
    does not depend on the order or on what else it scores (each ranking is computed on its own)."""
    names = {DEFAULT_CRITERION[1]} | {r for _, r in criteria}
    return tuple(sorted(names, key=lambda r: (list(RANKINGS).index(parse_ranking(r)[0]), parse_ranking(r)[1] or 0)))


# --- the run's options ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    """Everything that defines one Table 2 run besides the data (module docstring, 1-8).

    ``items``/``ranking``: the reading the configurations are chosen for (6-7); ``also``: more
    (items, ranking) readings, each chosen on validation and tested on the queries like the main one
    (e.g. ``(("single", "cosine@50"),)``); ``explore``: also score every other (items, ranking) pair on
    validation, each at the configuration it chooses itself (the queries are used only for the main
    reading, the default one and ``also``); ``split``: 'random' or 'original' (8).
    """

    preset: Preset = PRESETS["paper"]
    seed: int = 0
    methods: tuple = METHODS
    items: str = "single"
    ranking: str = "cosine"
    explore: bool = False
    also: tuple = ()
    split: str = "random"
    backend: str = "numpy"
    show_progress: bool | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "also", tuple(tuple(c) for c in self.also))
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"unknown method(s) {bad}; choose from {METHODS}")
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; choose one of {SPLITS}")
        for items, ranking in [(self.items, self.ranking), *self.also]:
            if items not in ITEMS:
                raise ValueError(f"unknown items reading {items!r}; choose one of {ITEMS}")
            parse_ranking(ranking)

    @property
    def criteria(self) -> list:
        """The (items, ranking) pairs the run scores on validation: the main one first, then ``also``."""
        out = [(self.items, self.ranking), *self.also]
        if self.explore:
            out += [(i, r) for i in ITEMS for r in RANKINGS if (i, r) not in out]
        return list(dict.fromkeys(out))

    @property
    def report(self) -> list:
        """The readings tested on the queries: the main one, the default one and ``also``; the others
        are compared on validation alone (rerun with --ranking X to test X)."""
        return list(dict.fromkeys(c for c in self.criteria
                                  if c in (self.criteria[0], DEFAULT_CRITERION) or c in self.also))

    @property
    def rankings(self) -> tuple:
        """The rankings every unit scores (:func:`rankings_for` the readings)."""
        return rankings_for(self.criteria)

    def pairs(self) -> list:
        seeds = backend.spawn_seeds(self.seed, self.preset.splits)
        return [Pairs(self.split, k, self.seed, s) for k, s in enumerate(seeds)]

    def protocol(self) -> dict:
        """What config.json pins: a run directory resumes only under the same protocol."""
        grids = {m: len(self.preset.grid(m)) for m in self.methods}
        protocol = {"experiment": "table2", "preset": self.preset.name, "settings": self.preset.settings(),
                    "seed": self.seed, "methods": list(self.methods), "query_fraction": QUERY_FRACTION,
                    "default_protocol": DEFAULT_PROTOCOL, "modality_sizes": MODALITY_SIZES,
                    "shared_sizes": SHARED_SIZES, "grid_size": grids,
                    # the set of readings scored (the main one is chosen at report time among them)
                    "criteria": sorted(criterion_key(c) for c in self.criteria),
                    "distance": "per (items, ranking) criterion"}
        if self.split != "random":  # recorded only when not the default, so earlier run directories still resume
            protocol["split"] = self.split
        return json.loads(json.dumps(protocol))


# --- units of work --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit(Unit):
    """One method at one grid configuration, fitted and scored: what :class:`Tune` and :class:`Final` share."""

    pairs: Pairs
    method: str
    index: int                # the configuration's place in its grid
    config: NetConfig | CcaConfig
    preset: Preset | None     # its unit part (:meth:`Preset.unit_part`); None for CCA, which needs none
    rankings: tuple           # the rankings scored (:attr:`Options.rankings`)

    def fit(self, ctx: Context, unit_dir: Path, rows, seed: int, xp) -> dict:
        """Fit on ``rows`` with the unit's checkpoints (a diverged fit leaves none behind)."""
        data = ctx.data
        try:
            return fit_method(self.method, self.config, self.preset, data.image[rows], data.text[rows], seed, xp,
                              checkpoint=unit_dir / "fit.npz", show_progress=ctx.show_progress)
        except DivergenceError:
            drop_checkpoints(unit_dir)
            raise


@dataclass(frozen=True)
class Tune(Fit):
    """Fit on the validation training rows, score the validation queries against the validation items."""

    @property
    def path(self) -> tuple:
        return (f"split{self.pairs.k}", self.method, f"tune{self.index}")

    def run(self, ctx: Context, unit_dir, inputs) -> dict:
        t0, xp = time.time(), backend.get_xp(ctx.settings["backend"])
        ix = self.pairs.indices(ctx.data)
        model = self.fit(ctx, unit_dir, ix["val_train"], self.pairs.split_seed + 10 + self.index, xp)
        variants = evaluate_all(model, ctx.data, ix["val_query"], ix["val_items"], xp, self.rankings)
        drop_checkpoints(unit_dir)
        return {"config": self.config.as_dict(), "validation": variants[DEFAULT_CRITERION[0]][DEFAULT_CRITERION[1]],
                "variants": variants, "seconds": time.time() - t0}


@dataclass(frozen=True)
class Final(Fit):
    """Retrain a chosen configuration on the training rows and score the queries against the items."""

    @property
    def path(self) -> tuple:
        return (f"split{self.pairs.k}", self.method, f"final{self.index}")

    def run(self, ctx: Context, unit_dir, inputs) -> dict:
        t0, xp = time.time(), backend.get_xp(ctx.settings["backend"])
        ix = self.pairs.indices(ctx.data)
        model = self.fit(ctx, unit_dir, ix["train"], self.pairs.split_seed + 100, xp)
        res = {"split": self.pairs.k, "split_seed": self.pairs.split_seed, "chosen": self.config.as_dict(),
               "chosen_index": self.index, "n_queries": len(ix["query"]), "n_retrieval": len(ix["items"])}
        if self.pairs.kind != "random":
            res["n_train"] = len(ix["train"])
        res["test_variants"] = evaluate_all(model, ctx.data, ix["query"], ix["items"], xp, self.rankings)
        res["seconds"] = time.time() - t0
        if model["kind"] == "network":
            res["final_train_loss"] = model["history"]["train_loss"][-1]
        drop_checkpoints(unit_dir)
        return res


def drop_checkpoints(unit_dir: Path) -> None:
    """A finished unit keeps only its result: its checkpoints were for resuming it."""
    (unit_dir / "fit.npz").unlink(missing_ok=True)
    shutil.rmtree(unit_dir / "pretrain", ignore_errors=True)


# --- the plan -------------------------------------------------------------------------------------

def tuning_units(opts: Options, pairs: Pairs, method: str) -> list:
    """One method's grid on one split (3)."""
    part = None if method == "cca" else opts.preset.unit_part()
    return [Tune(pairs, method, j, c, part, opts.rankings) for j, c in enumerate(opts.preset.grid(method))]


def final_units(opts: Options, pairs: Pairs, method: str, best: dict) -> list:
    """Each distinct configuration the reported readings chose (``best``: {criterion: index}), trained once."""
    part, grid = None if method == "cca" else opts.preset.unit_part(), opts.preset.grid(method)
    return [Final(pairs, method, j, grid[j], part, opts.rankings) for j in dict.fromkeys(best[c] for c in opts.report)]


def scores(result, criterion) -> dict | None:
    """A tuning unit's validation mAPs under one (items, ranking) reading; None if it diverged."""
    return None if result.diverged else result["variants"][criterion[0]][criterion[1]]


def chosen(opts: Options, grid: list, done: dict) -> dict | None:
    """{criterion: chosen index} once the whole grid has finished (:func:`choose_config`), else None."""
    if not all(u in done for u in grid):
        return None
    return {c: choose_config({u.index: scores(done[u], c) for u in grid}) for c in opts.criteria}


def plan(opts: Options):
    """Table 2 as a plan for :func:`.runner.run_plan`: every method's grid on every split, then, as soon
    as a grid has finished, the final units of the configurations it chose."""
    def units(done: dict) -> list:
        out = []
        for pairs in opts.pairs():
            for method in opts.methods:
                grid = tuning_units(opts, pairs, method)
                best = chosen(opts, grid, done)
                out += grid + ([] if best is None else final_units(opts, pairs, method, best))
        return out

    return units


def data_checksum(data: WikiData) -> str:
    """The identity of the loaded pairs (features, labels, original split) for every unit's fingerprint."""
    return array_checksum(data.image, data.text, data.labels, data.is_original_train)


def context(data: WikiData, out, opts: Options) -> Context:
    """What every unit of a run shares; the data's checksum and the backend enter every fingerprint."""
    return Context(str(Path(out).resolve()), data,
                   {"backend": opts.backend, "dtype": "float32", "data": data_checksum(data)},
                   show_progress=opts.show_progress)


def run_table2(data: WikiData, out, opts: Options = Options(), *, jobs: int = 1, scheduler: str | None = None,
               report_only: bool = False, log=None) -> dict:
    """Run (or resume) the whole protocol in run directory ``out``; returns the metrics, also written to
    ``out/metrics.json`` (unless ``report_only``: then nothing trains and the finished units are
    aggregated). ``jobs``/``scheduler``: parallel units (:func:`.runner.run_plan`). Run directories
    written before the readings existed (units ``final``) are converted by
    ``scripts/migrate_table2_run.py``; those written before fingerprints by ``scripts/migrate_wiki_units.py``.
    """
    rd = RunDir(out)
    # units run with one BLAS thread wherever they run (the runner's executors), serially too
    rd.start(opts.protocol(), backend_name=opts.backend, units_blas_threads=1)
    log = log or (lambda m: rd.log(m, echo=opts.show_progress is not False))
    ctx = context(data, out, opts)
    try:
        if report_only:
            return aggregate(opts, read_plan(plan(opts), ctx, log))
        parallel = jobs != 1 or scheduler is not None
        worker_ctx = replace(ctx, show_progress=False) if parallel else ctx
        done = run_plan(plan(opts), worker_ctx, jobs=jobs, scheduler=scheduler, log=log)
        failed = [u for u, r in done.items() if r.diverged and isinstance(u, Final)]  # tuning may diverge
        if failed:
            raise DivergenceError(f"{'/'.join(failed[0].path)}: {done[failed[0]].diverged}")
        metrics = aggregate(opts, done)
        log(f"configurations chosen on validation ({criterion_key(opts.criteria[0])}): {json.dumps(metrics['chosen'])}")
        rd.write_metrics(metrics)
        return metrics
    finally:
        rd.release()


# --- aggregation ---------------------------------------------------------------------------------

def collect(opts: Options, done: dict) -> tuple:
    """({criterion: {method: [per split: chosen configuration and index, its validation scores, and its
    test scores where the reading is reported]}}, [what has not finished]) from the finished units."""
    per, missing = {c: {} for c in opts.criteria}, []
    for pairs in opts.pairs():
        for method in opts.methods:
            grid = tuning_units(opts, pairs, method)
            best = chosen(opts, grid, done)
            finals = {} if best is None else {u.index: done.get(u) for u in final_units(opts, pairs, method, best)}
            if best is None or any(f is None or f.diverged for f in finals.values()):
                missing.append(f"split {pairs.k} {method}")
                continue
            for c in opts.criteria:
                j, f = best[c], finals.get(best[c]) if c in opts.report else None
                per[c].setdefault(method, []).append(
                    {"split": pairs.k, "chosen": grid[j].config.as_dict(), "chosen_index": j,
                     "test": None if f is None else f["test_variants"][c[0]][c[1]],
                     "validation": scores(done[grid[j]], c)})
    return per, missing


def aggregate(opts: Options, done: dict) -> dict:
    """metrics.json: the main reading's test mAPs (:func:`summarise`), the protocol, and per reading its
    validation summary and, where reported, its test mAPs. ``done``: {Unit: Result}."""
    per, missing = collect(opts, done)
    main = opts.criteria[0]
    metrics = summarise(per[main])
    metrics["protocol"] = opts.protocol()
    metrics["items"], metrics["ranking"], metrics["distance"] = opts.items, opts.ranking, ranking_text(opts.ranking)
    # validation for every reading; test only for the reported ones
    metrics["criteria"] = {criterion_key(c): {**(summarise(per[c]) if c in opts.report else {}),
                                              "validation": validation_summary(per[c])}
                           for c in opts.criteria}
    if missing:
        metrics["missing"] = missing
    return metrics


def summarise(results: dict) -> dict:
    """Mean and std over splits: {protocol: {task: {method: {"mean", "std", "splits", "values"}}}}, and
    each method's chosen configuration per split."""
    out = {}
    for protocol in PROTOCOLS:
        for task in TASKS:
            for method, runs in results.items():
                vals = [r["test"][protocol][task] for r in runs]
                out.setdefault(protocol, {}).setdefault(task, {})[method] = cell(vals, n_key="splits")
    out["chosen"] = {m: [r["chosen"] for r in runs] for m, runs in results.items()}
    return out


def validation_summary(runs: dict) -> dict:
    """Per method: the chosen configuration's validation mAPs (default protocol), mean over splits.

    This is what compares rankings without touching the queries: each ranking scored at the
    configuration it would choose itself."""
    out = {}
    for method, rs in runs.items():
        chosen_scores = [r["validation"][DEFAULT_PROTOCOL] for r in rs]
        out[method] = {t: float(np.mean([c[t] for c in chosen_scores])) for t in TASKS}
    return out


__all__ = ["METHODS", "PRESETS", "Preset", "NetConfig", "CcaConfig", "Options", "Pairs", "Tune", "Final",
           "run_table2", "plan", "aggregate", "context", "with_overrides", "choose_config", "evaluate_all",
           "fit_method", "split_indices", "criterion_key", "parse_ranking", "ranking_text"]
