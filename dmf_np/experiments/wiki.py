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
   (:func:`dmf_np.retrieval.average_precision`); ``run_table2(also=...)`` reports such extra readings.
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
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from .. import backend
from ..cca import cca_transform_x, cca_transform_y, fit_cca
from ..data.wiki import load_wiki, original_split, query_split
from ..errors import DivergenceError
from ..fusion import Architecture, init_params
from ..generative import encode, init_decoder, reconstruct
from ..generative_train import fit_generative
from ..optim import SGD
from ..pretrain import CDConfig, pretrain_fusion
from ..retrieval import distance_matrix, map_of, relevance_ranked, retrieval_map
from .rundir import RunDir

METHODS = ("cca", "emf", "imf", "dmf")
NETWORKS = ("emf", "imf", "dmf")
PROTOCOLS = ("reconstruct", "encode")
DEFAULT_PROTOCOL = "reconstruct"
ITEMS = ("single", "paired")
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

PRESETS = {
    # The grids have 4 configurations for every method: the same tuning budget. The networks' grid
    # spans both preprocessings and the training length; CCA's spans its ridge.
    "paper": {"splits": 5, "pretrain_epochs": 10, "batch_size": 100, "momentum": 0.9, "weight_decay": 1e-4,
              "net_grid": [{"preprocessing": "standardise", "lr": 0.002, "epochs": 150},
                           {"preprocessing": "standardise", "lr": 0.002, "epochs": 400},
                           {"preprocessing": "standardise", "lr": 0.004, "epochs": 300},
                           {"preprocessing": "minmax", "lr": 0.01, "epochs": 300}],
              "cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.01, 0.1, 0.3, 1.0)]},
    "quick": {"splits": 2, "pretrain_epochs": 5, "batch_size": 100, "momentum": 0.9, "weight_decay": 1e-4,
              "net_grid": [{"preprocessing": "standardise", "lr": 0.004, "epochs": 100},
                           {"preprocessing": "minmax", "lr": 0.01, "epochs": 100}],
              "cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.01, 0.3)]},
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

def network_architecture(scheme: str, settings: dict | None = None) -> Architecture:
    settings = settings or {}
    return Architecture(scheme, settings.get("modality_sizes", MODALITY_SIZES),
                        settings.get("shared_sizes", SHARED_SIZES), None, ("img", "txt"))


def fit_network(scheme: str, config: dict, settings: dict, image, text, seed: int, xp, checkpoint=None,
                show_progress=None) -> dict:
    """Pretrain (optional) and train a generative network on the rows given; returns its state."""
    pre = fit_preprocessing(config["preprocessing"], image, text)
    xs = [backend.to_device(a, xp, backend.DEFAULT_DTYPE) for a in apply_preprocessing(pre, image, text)]
    arch = network_architecture(scheme, settings)
    out = output_kind(config["preprocessing"])
    seeds = backend.spawn_seeds(seed, 3)
    params = init_params(arch, np.random.default_rng(seeds[0]), xp=xp)
    if settings["pretrain_epochs"]:
        cd = CDConfig(epochs=settings["pretrain_epochs"], batch_size=settings["batch_size"])
        pretrain_fusion(params, arch, xs, cd, gaussian_inputs=out == "gaussian", seed=seeds[1], log=None,
                        show_progress=show_progress,
                        checkpoint_dir=None if checkpoint is None else Path(checkpoint).parent / "pretrain")
    # tied initialisation: the decoder starts as the transposes of the (pretrained) encoder
    params.update(init_decoder(arch, None, xp, encoder_params=params))
    weights = (1.0, settings.get("text_weight", MODALITY_SIZES[0][0] / MODALITY_SIZES[1][0]))
    epochs = config.get("epochs", settings.get("epochs"))
    hist = fit_generative(params, arch, xs, out, epochs=epochs, batch_size=settings["batch_size"],
                          optimizer=SGD(config["lr"], settings["momentum"], settings["weight_decay"]),
                          seed=seeds[2], weights=weights, missing_probs=settings.get("missing_probs"),
                          checkpoint=checkpoint, checkpoint_every=25,
                          show_progress=show_progress,
                          desc=f"{scheme} reconstruct")
    return {"kind": "network", "arch": arch, "params": params, "pre": pre, "outputs": (out, out), "history": hist}


def fit_method(method: str, config: dict, settings: dict, image, text, seed: int, xp, checkpoint=None,
               show_progress=None) -> dict:
    if method == "cca":
        pre = fit_preprocessing(config["preprocessing"], image, text)
        x, y = apply_preprocessing(pre, image, text)
        return {"kind": "cca", "model": fit_cca(backend.to_device(x, xp), backend.to_device(y, xp), reg=config["reg"]),
                "pre": pre}
    return fit_network(method, config, settings, image, text, seed, xp, checkpoint, show_progress)


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


# --- the whole table -----------------------------------------------------------------------------

def _criteria(items: str, ranking: str, explore: bool, also=()) -> list:
    """The (items, ranking) pairs a run scores on validation: the main one first, then ``also``."""
    out = [(items, ranking)] + [tuple(c) for c in also]
    for i, r in out:
        if i not in ITEMS:
            raise ValueError(f"unknown items reading {i!r}; choose one of {ITEMS}")
        parse_ranking(r)
    if explore:
        out += [(i, r) for i in ITEMS for r in RANKINGS if (i, r) not in out]
    return list(dict.fromkeys(out))


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


def criterion_key(criterion) -> str:
    return f"{criterion[0]}/{criterion[1]}"


def run_table2(wiki_dir, out_dir, *, preset: str = "paper", splits: int | None = None, seed: int = 0,
               methods=METHODS, backend_name: str | None = None, show_progress=None, overrides=None,
               verify_checksums: bool = True, items: str = "single", ranking: str = "cosine",
               explore: bool = False, also=(), split: str = "random") -> dict:
    """Run (or resume) the whole protocol; returns the metrics written to ``out_dir/metrics.json``.

    ``also``: more (items, ranking) readings, each chosen on validation and tested on the queries like
    the main one (e.g. ``[("single", "cosine@50")]``); ``split``: 'random' or 'original' (module
    docstring, 8).
    ``items``/``ranking``: the reading the configurations are chosen for (module docstring, 6-7);
    ``explore``: also score every other (items, ranking) pair on validation, each at the configuration
    it chooses itself; the queries are used only for the main reading and the default one. (Run directories
    written before the readings existed, with units ``final``: ``scripts/migrate_table2_run.py`` converts them.)
    """
    criteria = _criteria(items, ranking, explore, also)
    # finals (training on the whole retrieval set, then the queries) only for the main reading, the
    # default one and ``also``: the others are compared on validation alone (rerun with --ranking X to test X)
    report = list(dict.fromkeys(c for c in criteria
                                if c in (criteria[0], DEFAULT_CRITERION) or c in [tuple(a) for a in also]))
    # the rankings scored: those the readings ask for, the default's always (every one of RANKINGS when
    # exploring); scoring, not training, takes most of a small unit's time
    rankings = tuple(dict.fromkeys([DEFAULT_CRITERION[1]] + (list(RANKINGS) if explore else [])
                                   + [r for _, r in criteria]))
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    settings = json.loads(json.dumps(PRESETS[preset]))
    settings.update(overrides or {})
    if splits is not None:
        settings["splits"] = int(splits)
    xp = backend.get_xp(backend_name)
    data = load_wiki(wiki_dir, verify_checksums=verify_checksums)
    run = RunDir(out_dir)
    protocol = {"experiment": "table2", "preset": preset, "settings": settings, "seed": seed,
                "methods": list(methods), "query_fraction": QUERY_FRACTION, "default_protocol": DEFAULT_PROTOCOL,
                "modality_sizes": MODALITY_SIZES,
                "shared_sizes": SHARED_SIZES,
                "grid_size": {m: len(settings["cca_grid" if m == "cca" else "net_grid"]) for m in methods},
                # the set of readings scored (the main one is chosen at report time among them)
                "criteria": sorted(criterion_key(c) for c in criteria), "distance": "per (items, ranking) criterion"}
    if split != "random":  # recorded only when not the default, so earlier run directories still resume
        protocol["split"] = split
    run.start(protocol, backend.backend_name(xp))
    echo = show_progress is not False
    split_seeds = backend.spawn_seeds(seed, settings["splits"])
    per_criterion = {c: {} for c in criteria}
    for k, s_seed in enumerate(split_seeds):
        ix = split_indices(data, split, seed, s_seed)
        q_idx, r_idx, train_idx = ix["query"], ix["items"], ix["train"]
        for method in methods:
            grid = settings["cca_grid" if method == "cca" else "net_grid"]
            tuning = []
            for j, config in enumerate(grid):
                tu = (f"split{k}", method, f"tune{j}")
                res = run.result(*tu)
                if res is None:
                    res = _tune_unit(run, tu, method, config, settings, data, ix["val_query"], ix["val_train"],
                                     s_seed + 10 + j, xp, show_progress, ix["val_items"], rankings)
                    run.log(f"split {k} {method} config {j} {config}: validation "
                            f"{json.dumps(res['validation'])}", echo=echo)
                tuning.append(res)
            best = {c: max(range(len(grid)), key=lambda j, c=c: validation_score(_scores(tuning, j, c)))
                    for c in criteria}
            finals = {}
            for j in dict.fromkeys(best[c] for c in report):  # each distinct chosen configuration, trained once
                unit = (f"split{k}", method, f"final{j}")
                res = run.result(*unit)
                if res is None:
                    t0 = time.time()
                    model = fit_method(method, grid[j], settings, data.image[train_idx], data.text[train_idx],
                                       s_seed + 100, xp, checkpoint=run.unit(*unit) / "fit.npz",
                                       show_progress=show_progress)
                    res = {"split": k, "split_seed": s_seed, "chosen": grid[j], "chosen_index": j,
                           "n_queries": len(q_idx), "n_retrieval": len(r_idx)}
                    if split != "random":
                        res["n_train"] = len(train_idx)
                    res["test_variants"] = evaluate_all(model, data, q_idx, r_idx, xp, rankings)
                    res["seconds"] = time.time() - t0
                    if model["kind"] == "network":
                        res["final_train_loss"] = model["history"]["train_loss"][-1]
                    run.save_result(unit, res)
                    _drop_checkpoints(run.unit(*unit))
                    run.log(f"split {k} {method}: config {j} {grid[j]} trained on the retrieval set", echo=echo)
                finals[j] = res
            for c in criteria:
                f = finals.get(best[c]) if c in report else None
                per_criterion[c].setdefault(method, []).append(
                    {"split": k, "chosen": grid[best[c]], "chosen_index": best[c],
                     "test": None if f is None else f["test_variants"][c[0]][c[1]],
                     "validation": [_scores(tuning, j, c) for j in range(len(grid))]})
    metrics = aggregate(per_criterion[criteria[0]])
    metrics["protocol"] = protocol
    metrics["items"], metrics["ranking"], metrics["distance"] = items, ranking, ranking_text(ranking)
    # validation for every reading; test only for the reported ones
    metrics["criteria"] = {criterion_key(c): {**(aggregate(per_criterion[c]) if c in report else {}),
                                              "validation": validation_summary(per_criterion[c])}
                           for c in criteria}
    run.write_metrics(metrics)
    return metrics


def _scores(tuning: list, j: int, criterion) -> dict:
    """The validation mAPs of grid configuration j under one (items, ranking) reading."""
    return tuning[j]["variants"][criterion[0]][criterion[1]]


def _tune_unit(run, unit, method, config, settings, data, vq_idx, vt_idx, seed, xp, show_progress,
               vi_idx=None, rankings=tuple(RANKINGS)) -> dict:
    """Fit one grid configuration on the validation training rows ``vt_idx`` and score it on the
    validation queries against the validation items ``vi_idx`` (None: the training rows)."""
    t0 = time.time()
    try:
        model = fit_method(method, config, settings, data.image[vt_idx], data.text[vt_idx], seed, xp,
                           checkpoint=run.unit(*unit) / "fit.npz", show_progress=show_progress)
        variants = evaluate_all(model, data, vq_idx, vt_idx if vi_idx is None else vi_idx, xp, rankings)
        validation = variants[DEFAULT_CRITERION[0]][DEFAULT_CRITERION[1]]
    except DivergenceError as exc:  # a diverging configuration simply loses the tuning
        lost = {p: {"i2t": float("-inf"), "t2i": float("-inf")} for p in PROTOCOLS}
        validation = lost
        variants = {i: {r: lost for r in rankings} for i in ITEMS}
        run.log(f"{'/'.join(unit)} diverged: {exc}", echo=show_progress is not False)
    res = {"config": config, "validation": validation, "variants": variants, "seconds": time.time() - t0}
    run.save_result(unit, res)
    _drop_checkpoints(run.unit(*unit))
    return res


def validation_summary(runs: dict) -> dict:
    """Per method: the chosen configuration's validation mAPs (default protocol), mean over splits.

    This is what compares rankings without touching the queries: each ranking scored at the
    configuration it would choose itself."""
    out = {}
    for method, rs in runs.items():
        chosen = [r["validation"][r["chosen_index"]][DEFAULT_PROTOCOL] for r in rs]
        out[method] = {t: float(np.mean([c[t] for c in chosen])) for t in ("i2t", "t2i")}
    return out


def _drop_checkpoints(unit_dir: Path) -> None:
    """A finished unit keeps only its result.json: its checkpoints were for resuming it."""
    (unit_dir / "fit.npz").unlink(missing_ok=True)
    shutil.rmtree(unit_dir / "pretrain", ignore_errors=True)


def aggregate(results: dict) -> dict:
    """Mean and std over splits: {protocol: {task: {method: {"mean", "std", "splits", "values"}}}}."""
    out = {}
    for protocol in PROTOCOLS:
        for task in ("i2t", "t2i"):
            for method, runs in results.items():
                vals = [r["test"][protocol][task] for r in runs]
                out.setdefault(protocol, {}).setdefault(task, {})[method] = {
                    "mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                    "splits": len(vals), "values": vals}
    out["chosen"] = {m: [r["chosen"] for r in runs] for m, runs in results.items()}
    return out


def table2_json(metrics: dict) -> dict:
    """The committed figures/table2.json: the default protocol, the other one beside it."""
    out = {task: {m: {k: v[k] for k in ("mean", "std", "splits")} for m, v in metrics[DEFAULT_PROTOCOL][task].items()}
           for task in ("i2t", "t2i")}
    other = [p for p in PROTOCOLS if p != DEFAULT_PROTOCOL][0]
    out["protocol"] = DEFAULT_PROTOCOL
    out[f"protocol_{other}"] = {task: {m: {k: v[k] for k in ("mean", "std", "splits")}
                                       for m, v in metrics[other][task].items()} for task in ("i2t", "t2i")}
    out["paper"] = PAPER
    out["chosen_configs"] = metrics["chosen"]
    out["items"] = metrics.get("items", "single")
    out["distance"] = metrics.get("distance", metrics["protocol"]["distance"])
    out["preset"] = metrics["protocol"]["preset"]
    if "criteria" in metrics:  # every reading scored in the same run, each with its own chosen configurations
        out["criteria"] = {key: {"test": {p: {t: {m: {k: v[k] for k in ("mean", "std")} for m, v in agg[p][t].items()}
                                              for t in ("i2t", "t2i")} for p in PROTOCOLS} if "encode" in agg else None,
                                 "validation": agg["validation"]}
                           for key, agg in metrics["criteria"].items()}
    return out


def criterion_view(metrics: dict, items: str, ranking: str) -> dict:
    """The metrics of another (items, ranking) reading of an exploring run, shaped like the main one's."""
    key = criterion_key((items, ranking))
    if DEFAULT_PROTOCOL not in metrics.get("criteria", {}).get(key, {}):
        raise ValueError(f"this run did not test {key} on the queries; rerun it with --items {items} "
                         f"--ranking {ranking} (same --out) to train and test that reading")
    return {**metrics, **{k: v for k, v in metrics["criteria"][key].items() if k != "validation"},
            "items": items, "ranking": ranking, "distance": ranking_text(ranking)}


def table2_markdown(metrics: dict, command: str) -> str:
    """figures/table2.md: ours (mean +- std over splits) beside the paper's Table 2."""
    methods = [m for m in METHODS if m in metrics[DEFAULT_PROTOCOL]["i2t"]]
    n = metrics[DEFAULT_PROTOCOL]["i2t"][methods[0]]["splits"]
    items = metrics.get("items", "single")
    lines = ["# Table 2: cross-modal retrieval on Wiki (mAP)"
             + ("" if items == "single" else f", items `{items}` (NOT the default task)"), "",
             f"Ours: mean +- std over {n} random query/retrieval splits (25% / 75% of the 2,866 pairs); "
             f"distance: {metrics.get('distance', metrics['protocol']['distance'])}; hyperparameters chosen per "
             "split on a validation slice of the retrieval set, under this table's own reading "
             f"({_grid_text(metrics['protocol']['grid_size'])} configurations per method). Generated by", "",
             f"    {command}", ""]
    if items == "paired":
        lines += ["**Items `paired`: a different, easier task.** Each retrieval-set item is represented from BOTH "
                  "its image and its text (the joint code of the pair; for CCA the mean of its two canonical "
                  "projections); only the query carries one modality. The retrieval set thus leaks every "
                  "item's second modality, and I2T and T2I rank the same item codes. Not comparable with "
                  "figures/table2.md (items seen through one modality).", ""]
    for protocol in PROTOCOLS:
        tag = " (default: the paper's protocol)" if protocol == DEFAULT_PROTOCOL else ""
        lines += [f"## Protocol `{protocol}`{tag}", "",
                  "| mAP | " + " | ".join(m.upper() for m in methods) + " |",
                  "| --- |" + " --- |" * len(methods)]
        for task in ("i2t", "t2i"):
            cells = [f"{metrics[protocol][task][m]['mean']:.4f} +- {metrics[protocol][task][m]['std']:.4f}"
                     for m in methods]
            lines.append(f"| {task.upper()} | " + " | ".join(cells) + " |")
        lines.append("")
    paper_methods = list(PAPER["i2t"])
    lines += ["## The paper's Table 2", "", "| mAP | " + " | ".join(paper_methods) + " |",
              "| --- |" + " --- |" * len(paper_methods)]
    for task in ("i2t", "t2i"):
        lines.append(f"| {task.upper()} | " + " | ".join(f"{PAPER[task][m]:.4f}" for m in paper_methods) + " |")
    lines += ["", "CCA has no decoder: its numbers are the same under both protocols.", "",
              "Chosen configurations per split: " + json.dumps(metrics["chosen"]), ""]
    if "criteria" in metrics:
        lines += _criteria_markdown(metrics, methods)
    return "\n".join(lines)


def _criteria_markdown(metrics: dict, methods: list) -> list:
    """Every (items, ranking) reading of the run, protocol `reconstruct`: validation (at the
    configuration each reading chose itself, mean over splits) beside test."""
    lines = ["## Every reading scored in this run (protocol `reconstruct`)", "",
             "Each reading chose its own configuration per split on validation. `val` is the chosen "
             "configuration's validation mAP (mean over splits), `test` the query mAP (mean +- std), "
             "computed only for this table's reading and the default one (single/cosine).", "",
             "| items / ranking | task | " + " | ".join(f"{m.upper()} val | {m.upper()} test" for m in methods) + " |",
             "| --- | --- |" + " --- | --- |" * len(methods)]
    for key, agg in metrics["criteria"].items():
        for task in ("i2t", "t2i"):
            cells = []
            for m in methods:
                t = agg[DEFAULT_PROTOCOL][task][m] if DEFAULT_PROTOCOL in agg else None
                cells += [f"{agg['validation'][m][task]:.4f}",
                          "(validation only)" if t is None else f"{t['mean']:.4f} +- {t['std']:.4f}"]
            lines.append(f"| {key} | {task.upper()} | " + " | ".join(cells) + " |")
    return lines + [""]


def _grid_text(sizes: dict) -> str:
    values = set(sizes.values())
    return str(values.pop()) if len(values) == 1 else ", ".join(f"{m}: {n}" for m, n in sizes.items())


def figure_name(items: str, ranking: str) -> str:
    """table2 for the default reading, table2_<items>[_<ranking>] for the others."""
    return "table2" + ("" if items == "single" else f"_{items}") + ("" if ranking == "cosine" else f"_{ranking}")
