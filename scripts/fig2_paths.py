#!/usr/bin/env python3
"""The data of the interactive Fig. 2 (docs/fig2_interactive.md): every learning path into every layer.

    python scripts/fig2_paths.py        # writes figures/fig2_paths.json and figures/fig2_paths.js

Trains a small EMF, IMF and DMF (two modalities, L = 3 as in the paper's Fig. 2) on the package's
generated data (dmf_np.data.synthetic, seeded) and, at initialisation and after training, splits
the error that reaches each layer, dε/dh^m_l or dε/ds_l on the whole training set, into one part per
learning path: per route from the classifier down the fusion graph to that layer. Each part comes
from dmf_np.learning_paths run with every edge off the route cut, so it is exactly what that one
route carries (back-propagation is linear in the error), and the parts add up to the uncut error.

A path's share is its projection share <g_p, g> / ||g||^2 (tutorial 4, section 5): the shares of a
layer add up to exactly 1, and one can be negative when paths partly cancel. The norm ratio
||g_p|| / ||g|| (LearningPaths.share's measure) is recorded beside it, and, for a modality layer with
weights below it, the same split of its weight gradient W^m_{l-1}.

figures/fig2_paths.js holds the same object as `window.DMF_FIG2_PATHS = ...;`, because a page opened
from disk (file://) may load a script but not fetch() a JSON file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from dmf_np.data.synthetic import two_modality_classes
from dmf_np.fusion import SCHEMES, Architecture, init_params
from dmf_np.io import atomic_write_json, atomic_write_text
from dmf_np.learning_paths import loss_and_learning_paths
from dmf_np.optim import SGD
from dmf_np.train import error_rate, fit_classifier

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python scripts/fig2_paths.py"
OUT = ROOT / "figures" / "fig2_paths.json"
# small enough to run in seconds on a laptop, deep enough (L = 3) for the paper's three colours
CONFIG = {"n": 1000, "input_sizes": [20, 30], "hidden_sizes": [16, 12], "shared_sizes": [16, 12, 8],
          "n_classes": 4, "data_seed": 0, "init_seed": 0, "epochs": 10, "batch_size": 50, "lr": 0.1,
          "momentum": 0.9}


def architecture(scheme: str, cfg: dict = CONFIG) -> Architecture:
    sizes = tuple((n, *cfg["hidden_sizes"]) for n in cfg["input_sizes"])
    return Architecture(scheme, sizes, tuple(cfg["shared_sizes"]), cfg["n_classes"], ("x", "y"))


def data(cfg: dict = CONFIG):
    xs, labels = two_modality_classes(n=cfg["n"], sizes=tuple(cfg["input_sizes"]), n_classes=cfg["n_classes"],
                                      seed=cfg["data_seed"])
    return [x.astype(np.float64) for x in xs], labels  # float64: the parts must add up to rounding


def network(scheme: str, epochs: int, xs, labels, cfg: dict = CONFIG) -> tuple[Architecture, dict]:
    """The seeded network of ``scheme`` after ``epochs`` epochs of SGD (0: as initialised)."""
    arch = architecture(scheme, cfg)
    params = init_params(arch, np.random.default_rng(cfg["init_seed"]), xp=np, dtype=np.float64)
    fit_classifier(params, arch, xs, labels, epochs=epochs, batch_size=cfg["batch_size"], seed=cfg["init_seed"],
                   optimizer=SGD(lr=cfg["lr"], momentum=cfg["momentum"]), show_progress=False)
    return arch, params


# --- the graph: nodes "out", "s<l>", "<name><l>"; backward edges named by the cut that removes them

def nodes(arch: Architecture) -> list[dict]:
    out = [{"id": f"s{l}", "kind": "shared", "l": l} for l in arch.shared_levels()]
    out += [{"id": f"{name}{l}", "kind": "modality", "m": m, "l": l}
            for m, name in enumerate(arch.names) for l in arch.modality_levels()]
    return out + [{"id": "out", "kind": "out", "l": arch.L + 1}]


def forward_edges(arch: Architecture) -> list[list[str]]:
    """[from, to] for every edge of the forward graph (what the figure draws)."""
    edges = [[f"s{arch.L}", "out"]]
    edges += [[f"s{l}", f"s{l + 1}"] for l in range(1, arch.L) if arch.has_shared_chain(l + 1)]
    for name in arch.names:
        edges += [[f"{name}{l}", f"s{l}"] for l in arch.fusion_levels()]
        edges += [[f"{name}{l}", f"{name}{l + 1}"] for l in arch.modality_levels() if l + 1 in arch.modality_levels()]
    return edges


def cuttable(arch: Architecture) -> set:
    """Every backward edge below the classifier, as the cut that removes it (dmf_np.backprop)."""
    edges = {("chain", l) for l in range(1, arch.L) if arch.has_shared_chain(l + 1)}
    for m in range(arch.M):
        edges |= {("shared", m, l) for l in arch.fusion_levels()}
        edges |= {("modality", m, l) for l in arch.modality_levels() if l + 1 in arch.modality_levels()}
    return edges


def paths_into(arch: Architecture, node: dict) -> list[tuple[list[str], list[tuple]]]:
    """Every route from the classifier to ``node``: (node ids top-down, the backward edges taken)."""
    l = node["l"]
    if node["kind"] == "shared":
        if l == arch.L:
            return [(["out", f"s{l}"], [])]
        above = paths_into(arch, {"kind": "shared", "l": l + 1}) if arch.has_shared_chain(l + 1) else []
        return [(ids + [f"s{l}"], edges + [("chain", l)]) for ids, edges in above]
    m, me = node["m"], f"{arch.names[node['m']]}{l}"
    routes = []
    if l + 1 in arch.modality_levels():  # Eq. 5's first term: through h^m_{l+1}
        routes += [(ids + [me], edges + [("modality", m, l)])
                   for ids, edges in paths_into(arch, {"kind": "modality", "m": m, "l": l + 1})]
    if l in arch.fusion_levels():  # Eq. 5's second term (Eq. 7): through s_l
        routes += [(ids + [me], edges + [("shared", m, l)])
                   for ids, edges in paths_into(arch, {"kind": "shared", "l": l})]
    return routes


def colour(arch: Architecture, node: dict, edges: list[tuple]) -> tuple[int | None, str]:
    """(entry level k, the paper's Fig. 2(b) colour class) of a route into ``node``.

    A route into h^m_l runs down the shared stack to s_k, crosses into modality m there, and runs
    down m's own stack to h^m_l. k = l: through the shared layer beside it (red, EMF's one path);
    k = L > l: down the modality's own stack from the top (purple, IMF's one path); between: through
    a shared layer and then modality layers (orange, DMF's own).
    """
    if node["kind"] != "modality":
        return None, "shared"
    k = next(e[2] for e in edges if e[0] == "shared")
    return k, "shared" if k == node["l"] else "modality" if k == arch.L else "both"


def projection_share(part, total) -> float:
    tt = float((total * total).sum())
    return float((part * total).sum()) / tt if tt > 0 else 0.0


def norm_ratio(part, total) -> float:
    nt = float(np.linalg.norm(total))
    return float(np.linalg.norm(part)) / nt if nt > 0 else 0.0


def error_at(bw, node: dict):
    """dε/d(node) in a Backward (zeros-free: None where no error reached it)."""
    return bw.ds.get(node["l"]) if node["kind"] == "shared" else bw.dh.get((node["m"], node["l"]))


def layer_paths(arch: Architecture, params: dict, xs, labels) -> dict:
    """{node id: {"eq5": ..., "paths": [...]}} for every layer, measured by dmf_np.learning_paths."""
    _, whole = loss_and_learning_paths(params, xs, labels, arch, input_grads=True)
    out, everything = {}, cuttable(arch)
    for node in nodes(arch)[:-1]:
        total, weight = error_at(whole.total, node), None
        if node["kind"] == "modality" and node["l"] > 1:
            weight = arch.W_mod(node["m"], node["l"] - 1)  # the layer's own weights, below it
        routes, summed = [], np.zeros_like(total)
        for ids, edges in paths_into(arch, node):
            _, only = loss_and_learning_paths(params, xs, labels, arch, cut=sorted(everything - set(edges), key=str),
                                              input_grads=True)
            part = error_at(only.total, node)
            summed += part
            k, cls = colour(arch, node, edges)
            route = {"nodes": ids, "entry": k, "colour": cls, "first": edges[-1][0] if edges else "head",
                     "share": projection_share(part, total), "norm_ratio": norm_ratio(part, total)}
            if weight is not None:
                route["weight_share"] = projection_share(only.total.grads[weight], whole.total.grads[weight])
            routes.append(route)
        # the routes are all the routes: their parts must rebuild the uncut error
        assert np.allclose(summed, total, rtol=1e-9, atol=1e-15), f"{arch.scheme} {node['id']}: paths miss error"
        layer = {"paths": routes, "weight": weight}
        if node["kind"] == "modality":  # Eq. 5's two terms, as learning_paths splits them (None: no such edge)
            split, l = whole.dh[(node["m"], node["l"])], node["l"]
            exists = {"modality": l + 1 in arch.modality_levels(), "shared": l in arch.fusion_levels()}
            layer["eq5"] = {p: projection_share(split[p], total) if exists[p] else None for p in exists}
        out[node["id"]] = layer
    return out


def rounded(obj, digits: int = 6):
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v, digits) for v in obj]
    return obj


def build(cfg: dict = CONFIG) -> dict:
    xs, labels = data(cfg)
    schemes = {}
    for scheme in SCHEMES:
        stages = {}
        for stage, epochs in (("init", 0), ("trained", cfg["epochs"])):
            arch, params = network(scheme, epochs, xs, labels, cfg)
            loss, _ = loss_and_learning_paths(params, xs, labels, arch)
            stages[stage] = {"epochs": epochs, "loss": float(loss), "train_error": error_rate(params, xs, labels, arch),
                             "layers": layer_paths(arch, params, xs, labels)}
        arch = architecture(scheme, cfg)
        schemes[scheme] = {"L": arch.L, "names": list(arch.names), "nodes": nodes(arch),
                           "edges": forward_edges(arch), "stages": stages}
    return rounded({"command": COMMAND, "config": cfg, "schemes": schemes,
                    "share": "projection share <g_p, g>/||g||^2 of the error dε/d(layer) on the whole training set"})


def main() -> int:
    result = build()
    atomic_write_json(OUT, result)
    # the same object for the page, as a script (see the module docstring)
    atomic_write_text(OUT.with_suffix(".js"), "window.DMF_FIG2_PATHS = " + json.dumps(result) + ";\n")
    print(f"wrote {OUT.relative_to(ROOT)} and {OUT.with_suffix('.js').relative_to(ROOT)}")
    for scheme, s in result["schemes"].items():
        t = s["stages"]["trained"]
        routes = sum(len(v["paths"]) for v in t["layers"].values())
        print(f"  {scheme}: {routes} routes into {len(t['layers'])} layers; after {t['epochs']} epochs "
              f"loss {t['loss']:.3f}, training error {t['train_error']:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
