"""Hidden tests of tutorial 3 (EMF, IMF and DMF, forward): deeper and wider networks than the tutorial's."""
import numpy as np

from dmf_np.fusion import Architecture

EXERCISES = {"3.1": ("n_paths_dmf", 1), "3.2": ("dmf_param_count", 2)}


def _count_routes(arch, src, dst):
    """Routes from node src to node dst in the fusion graph read from the parameter names."""
    nxt = {}
    for key in arch.param_shapes():
        if not key.startswith("W^") or key == "W^out":
            continue
        head, lev = key[2:].rsplit("_", 1)
        lev = int(lev)
        if head == "s":
            edge = (f"s_{lev}", f"s_{lev + 1}")
        elif head.endswith("->s}"):
            edge = (f"h^{head[1:-4]}_{lev}", f"s_{lev}")
        else:
            edge = (f"h^{head}_{lev}", f"h^{head}_{lev + 1}")
        nxt.setdefault(edge[0], []).append(edge[1])

    def count(node):
        return 1 if node == dst else sum(count(b) for b in nxt.get(node, []))

    return count(src)


def test_3_1(fn):
    for L in (2, 3, 5, 8, 10):
        arch = Architecture("dmf", ((4,) * L, (3,) * L), (2,) * L, 2)
        said = fn(L)
        assert said == _count_routes(arch, "h^x_1", f"s_{L}"), (
            f"L = {L}: {said!r} is not the number of paths. A path climbs the modality stack, crosses by one "
            "fusion edge and climbs the shared chain: where can it cross?")


def test_3_2(fn):
    cases = [(((10, 7, 5, 3), (12, 6, 4, 2)), (9, 8, 7, 6), 4),
             (((3, 2), (5, 4), (6, 3), (2, 2)), (7, 5), 3),
             (((784 // 2, 300), (784 // 2, 200)), (250, 100), 10)]
    for mod, shared, n_classes in cases:
        names = ("x", "y", "z", "w")[: len(mod)]
        expected = Architecture("dmf", mod, shared, n_classes, names=names).n_params()
        got = fn(mod, shared, n_classes)
        assert isinstance(got, (int, float, np.integer, np.floating)) and got == expected, (
            f"{len(mod)} modalities, {len(shared)} units: your count {got!r} is not the network's. Count per modality "
            "the chain weights (L-1 of them) and fusion weights (L), then the shared chain (L-1), a bias on every "
            "layer above the inputs, and the classifier")
