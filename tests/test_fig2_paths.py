"""figures/fig2_paths.json, the numbers of the interactive Fig. 2 (docs/fig2_interactive.md), are real.

The test rebuilds each network the way scripts/fig2_paths.py does (seeded, a second per scheme) and
checks the committed shares two ways: grouped by Eq. 5's term, they equal the projection shares of
dmf_np.learning_paths' own split; one by one, each route's part is rebuilt by chaining the Eq. 2, 6
and 7 functions down that route, independently of the cuts the script used. Each layer's shares add
up to 1, and the page's copy (fig2_paths.js) is the same object. If a test fails after the engine or
the script changed, regenerate: python scripts/fig2_paths.py.
"""
import importlib.util
import json
from pathlib import Path

import pytest

from dmf_np.backprop import classifier_loss, grad_shared_activation, grad_via_modality_path, grad_via_shared_path
from dmf_np.fusion import SCHEMES, forward
from dmf_np.layers import sigmoid_backward
from dmf_np.learning_paths import loss_and_learning_paths

ROOT = Path(__file__).resolve().parents[1]
DATA = json.loads((ROOT / "figures" / "fig2_paths.json").read_text())
TOL = 2e-6  # the file rounds to 6 decimals


def script():
    spec = importlib.util.spec_from_file_location("fig2_paths", ROOT / "scripts" / "fig2_paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def projection(part, total) -> float:
    return float((part * total).sum() / (total * total).sum())


def layers():
    for scheme, s in DATA["schemes"].items():
        for stage, rec in s["stages"].items():
            for node, layer in rec["layers"].items():
                yield f"{scheme} {stage} {node}", layer


def test_each_layers_shares_add_up_to_one():
    for where, layer in layers():
        assert abs(sum(p["share"] for p in layer["paths"]) - 1) < 1e-5, where
        if layer["weight"]:
            assert abs(sum(p["weight_share"] for p in layer["paths"]) - 1) < 1e-5, where


def test_routes_are_the_papers():
    """EMF and IMF: one route into every layer (red, resp. purple below the top); DMF's input: three."""
    for where, layer in layers():
        if not where.startswith("dmf"):
            assert len(layer["paths"]) == 1, where
    x1 = DATA["schemes"]["dmf"]["stages"]["trained"]["layers"]["x1"]["paths"]
    assert [p["colour"] for p in x1] == ["modality", "both", "shared"]
    assert [p["nodes"] for p in x1] == [["out", "s3", "x3", "x2", "x1"], ["out", "s3", "s2", "x2", "x1"],
                                        ["out", "s3", "s2", "s1", "x1"]]


def test_the_page_has_the_same_data():
    js = (ROOT / "figures" / "fig2_paths.js").read_text()
    prefix = "window.DMF_FIG2_PATHS = "
    assert js.startswith(prefix)
    assert json.loads(js[len(prefix):].rstrip().rstrip(";")) == DATA


def route_part(params, fw, arch, d_top, nodes):
    """The error that one route carries to its last node, by chaining Eqs. 6, 7 and 2 down it."""
    err = d_top  # at s_L, from the head
    for above, below in zip(nodes[1:], nodes[2:]):
        act_above = fw.s[int(above[1:])] if above[0] == "s" else fw.h[(arch.names.index(above[:-1]), int(above[-1]))]
        delta = sigmoid_backward(err, act_above)
        l = int(below[-1])
        if below[0] == "s":
            err = grad_shared_activation(delta, params[arch.W_sh(l)])
        elif above[0] == "s":
            err = grad_via_shared_path(delta, params[arch.W_fuse(arch.names.index(below[:-1]), l)])
        else:
            err = grad_via_modality_path(delta, params[arch.W_mod(arch.names.index(below[:-1]), l)])
    return err


@pytest.mark.parametrize("scheme", SCHEMES)
def test_shares_are_those_of_learning_paths_on_the_same_network(scheme):
    fig2 = script()
    assert DATA["config"] == fig2.CONFIG, "the script's settings changed: python scripts/fig2_paths.py"
    xs, labels = fig2.data()
    for stage, rec in DATA["schemes"][scheme]["stages"].items():
        arch, params = fig2.network(scheme, rec["epochs"], xs, labels)
        loss, lp = loss_and_learning_paths(params, xs, labels, arch, input_grads=True)
        assert abs(float(loss) - rec["loss"]) < TOL
        fw = forward(params, xs, arch)
        d_top = classifier_loss(params, fw, labels).d_top
        for node, layer in rec["layers"].items():
            where = f"{scheme} {stage} {node}"
            shared = node[0] == "s"
            total = lp.total.ds[int(node[1:])] if shared else lp.total.dh[(arch.names.index(node[0]), int(node[1:]))]
            for p in layer["paths"]:
                assert abs(projection(route_part(params, fw, arch, d_top, p["nodes"]), total) - p["share"]) < TOL, where
            if shared:
                continue
            m, l = arch.names.index(node[0]), int(node[1:])
            for term in ("modality", "shared"):  # Eq. 5's terms, as learning_paths splits them
                got = sum(p["share"] for p in layer["paths"] if p["first"] == term)
                assert abs(got - projection(lp.dh[(m, l)][term], total)) < 1e-5, (where, term)
                if layer["weight"]:
                    g, part = lp.total.grads[layer["weight"]], lp.grads[term][layer["weight"]]
                    got = sum(p["weight_share"] for p in layer["paths"] if p["first"] == term)
                    assert abs(got - projection(part, g)) < 1e-5, (where, term, "weights")
