"""Hidden test of tutorial 9 (the E1 rule's error half): fresh paired lists, ties included."""
import numpy as np

EXERCISES = {"9.1": ("seeds_below", 1)}


def test_9_1(fn):
    g = np.random.default_rng(2901)
    for n in (5, 3, 8):
        dmf = list(np.round(g.uniform(1, 2, n), 1))
        imf = list(np.round(g.uniform(1, 2, n), 1))
        imf[-1] = dmf[-1]                                  # a tie counts against DMF
        want = sum(d < i for d, i in zip(dmf, imf))
        got = fn(list(dmf), list(imf))
        assert got == want, (f"{n} seeds: {got!r} is not the number of seeds with DMF strictly below IMF "
                             "(pair the lists seed by seed; a tie is not below)")
