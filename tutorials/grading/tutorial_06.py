"""Hidden tests of tutorial 6 (Fig. 4): the prediction's form; the paired summary on fresh numbers."""
import numpy as np

EXERCISES = {"6.1": ("predicted_loss_order", 1), "6.2": ("paired_summary", 2)}
MODELS = ("emf", "imf", "dmf")


def test_6_1(fn):
    """A prediction earns its point by being one: each model named once, in some order."""
    answer = fn()
    assert isinstance(answer, (list, tuple)) and len(answer) == 3, "return the three models in a list"
    assert sorted(str(m).strip().lower() for m in answer) == sorted(MODELS), f"name each of {MODELS} once"


def test_6_2(fn):
    g = np.random.default_rng(2602)
    for n in (5, 7, 3):
        a = list(np.round(g.uniform(1, 3, n), 2))
        b = list(np.round(g.uniform(1, 3, n), 2))
        b[0] = a[0]                                        # a tie: not a win for a
        d = np.array(a) - np.array(b)
        answer = fn(list(a), list(b))
        assert isinstance(answer, (tuple, list)) and len(answer) == 3, "return (mean, std, a_lower)"
        mean, std, a_lower = (float(x) for x in answer)
        assert abs(mean - d.mean()) < 1e-9, f"{n} seeds: the mean of the differences is off"
        assert abs(std - d.std(ddof=1)) < 1e-9, f"{n} seeds: the std (of the differences, ddof 1) is off"
        assert a_lower == int((d < 0).sum()), f"{n} seeds: the count of seeds with a strictly lower is off"
