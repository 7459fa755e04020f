"""The tutorials' exercises: every solution passes its tutorial's check, and the stubs never break a run.

A tutorial with exercises calls ``attempt("N.k", stub, check)`` (dmf_np.exercises). Each such
tutorial is run the way a reader runs it (``python tutorials/NN_name.py`` from the repository root,
in fast mode, figures in a temporary directory) twice: with ``DMF_EXERCISE_SOLUTIONS=1`` every
exercise must report "passed", so the solutions in tutorials/solutions/ pass the tutorial's own
checks; without it every exercise must report "not attempted yet" and the tutorial must still exit 0.
"""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmf_np import exercises, grading, rbm
from dmf_np.cd_exact import expected_cd_k_gradient
from dmf_np.exercises import attempt, check_answer

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
WITH_EXERCISES = [p for p in TUTORIALS if "attempt(" in p.read_text()]
LINE = re.compile(r"^Exercise (\d+\.\d+): (.*)$")


def _run(path: Path, figures: Path, solutions: bool):
    env = dict(os.environ, DMF_TUTORIAL_FAST="1", MPLBACKEND="Agg", DMF_FIGURES_DIR=str(figures))
    for name in ("DMF_BACKEND", "DMF_EXERCISE_SOLUTIONS", "DMF_TUTORIAL6_TRAIN", "DMF_TUTORIAL_RUN_DIR"):
        env.pop(name, None)
    if solutions:
        env["DMF_EXERCISE_SOLUTIONS"] = "1"
    return subprocess.run([sys.executable, str(path.relative_to(ROOT))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _calls(path: Path) -> list[str]:
    """The exercise numbers of the tutorial's attempt(...) calls, in order."""
    text = path.read_text()
    numbers = re.findall(r'^attempt\("(\d+\.\d+)"', text, flags=re.MULTILINE)
    assert len(numbers) == text.count("attempt("), \
        f"{path.name}: every attempt( call starts a line with a literal number"
    return numbers


def test_the_tutorials_that_need_exercises_have_them():
    numbers = {int(p.name[:2]) for p in WITH_EXERCISES}
    for required in (1, 2, 3, 6):
        assert required in numbers, f"tutorial {required:02d} has no exercise (no attempt( call)"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_exercises_are_numbered_and_have_solutions(path):
    """Each exercise has a heading "### Exercise N.k: ...", N the tutorial's number, and a solutions file."""
    number = int(path.name[:2])
    calls = _calls(path)
    assert len(calls) == len(set(calls)), f"{path.name}: an exercise number is used twice: {calls}"
    headings = re.findall(r"^# ### Exercise (\d+\.\d+): ", path.read_text(), flags=re.MULTILINE)
    assert headings == calls, f"{path.name}: headings {headings} do not match the attempt calls {calls}"
    assert all(int(c.split(".")[0]) == number for c in calls), \
        f"{path.name}: exercises {calls} must be numbered {number}.k"
    assert (exercises.SOLUTIONS_DIR / f"tutorial_{number:02d}.py").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_solutions_pass_the_tutorials_checks(path, tmp_path):
    result = _run(path, tmp_path, solutions=True)
    assert result.returncode == 0, (f"{path.name} with the solutions failed (exit {result.returncode})\n"
                                    f"--- stdout (tail) ---\n{result.stdout[-3000:]}\n"
                                    f"--- stderr (tail) ---\n{result.stderr[-3000:]}")
    lines = [LINE.match(line) for line in result.stdout.splitlines()]
    reports = [(m.group(1), m.group(2)) for m in lines if m]
    assert [n for n, _ in reports] == _calls(path), f"{path.name}: exercise reports {reports}"
    for number, outcome in reports:
        assert outcome == "passed", f"{path.name}: exercise {number}: {outcome}"


@pytest.mark.slow
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_stubs_leave_the_tutorial_running(path, tmp_path):
    result = _run(path, tmp_path, solutions=False)
    assert result.returncode == 0, (f"{path.name} with its stubs failed (exit {result.returncode})\n"
                                    f"--- stderr (tail) ---\n{result.stderr[-3000:]}")
    reports = [(m.group(1), m.group(2)) for m in map(LINE.match, result.stdout.splitlines()) if m]
    assert [n for n, _ in reports] == _calls(path), f"{path.name}: exercise reports {reports}"
    for number, outcome in reports:
        assert outcome.startswith("not attempted yet"), f"{path.name}: exercise {number}: {outcome}"


@pytest.mark.slow
def test_tutorial6_optional_run_still_works(tmp_path):
    """Tutorial 6 trains nothing by default; its optional run (DMF_TUTORIAL6_TRAIN=1) is kept from
    rotting here: in fast mode it is the tiny preset on generated images, in seconds."""
    path = ROOT / "tutorials" / "06_reproduce_fig4.py"
    env = dict(os.environ, DMF_TUTORIAL_FAST="1", MPLBACKEND="Agg", DMF_FIGURES_DIR=str(tmp_path),
               DMF_TUTORIAL6_TRAIN="1")
    for name in ("DMF_BACKEND", "DMF_EXERCISE_SOLUTIONS", "DMF_TUTORIAL_RUN_DIR"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, str(path.relative_to(ROOT))], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "generated stand-in images" in result.stdout
    assert (tmp_path / "tutorial_06_fig4_generated.png").is_file()
    assert (tmp_path / "tutorial_06_fig4_paper.png").is_file()


# --- dmf_np.exercises itself ---------------------------------------------------------------------

def _check_square(fn):
    assert fn(3) == 9, f"fn(3) should be 9, got {fn(3)}"


def test_attempt_passes_a_right_answer(capsys, monkeypatch):
    monkeypatch.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)
    assert attempt("9.1", lambda x: x * x, _check_square) is None   # nothing for a notebook to echo
    assert capsys.readouterr().out.strip() == "Exercise 9.1: passed"


def test_attempt_prints_the_checks_hint_on_a_wrong_answer(capsys, monkeypatch):
    monkeypatch.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)
    assert attempt("9.1", lambda x: x + x, _check_square) is None
    # (pytest appends its own explanation to an assert message in a test module: hence startswith)
    assert capsys.readouterr().out.startswith("Exercise 9.1: not right yet: fn(3) should be 9, got 6")


def test_attempt_reports_an_answer_that_crashes(capsys, monkeypatch):
    monkeypatch.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)

    def square(x):
        return x / 0

    assert attempt("9.1", square, _check_square) is None
    out = capsys.readouterr().out.strip()
    assert out.startswith("Exercise 9.1: your answer raised ZeroDivisionError: division by zero (in square, line")
    assert "`return x / 0`" in out


def test_attempt_reports_a_stub_as_not_attempted(capsys, monkeypatch):
    monkeypatch.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)

    def square(x):
        raise NotImplementedError("exercise 9.1")

    assert attempt("9.1", square, _check_square) is None
    out = capsys.readouterr().out
    assert out.startswith("Exercise 9.1: not attempted yet") and "square" in out and "tutorial_09.py" in out


def test_attempt_checks_the_solution_under_the_environment_switch(tmp_path, monkeypatch, capsys):
    (tmp_path / "tutorial_09.py").write_text("def square(x):\n    return x * x\n")
    monkeypatch.setattr(exercises, "SOLUTIONS_DIR", tmp_path)
    monkeypatch.setenv("DMF_EXERCISE_SOLUTIONS", "1")

    def square(x):
        raise NotImplementedError

    attempt("9.1", square, _check_square)
    assert capsys.readouterr().out.strip() == "Exercise 9.1: passed"
    (tmp_path / "tutorial_09.py").write_text("def cube(x):\n    return x ** 3\n")
    with pytest.raises(AttributeError, match="no solution 'square'"):
        attempt("9.1", square, _check_square)


def test_expected_cd_k_gradient_is_the_average_of_cd_k():
    """dmf_np.cd_exact against the mean of many rbm.cd_k estimates: within a few standard errors."""
    g = np.random.default_rng(0)
    P = {"W": g.normal(0, 1.5, (3, 5)), "b_h": g.normal(0, 0.5, 3), "b_v": g.normal(0, 0.5, 5)}
    data = (g.random((30, 5)) < 0.5).astype(np.float64)
    chains = np.tile(data, (200, 1))
    for k, stat in ((1, "probs"), (2, "samples"), (3, "probs")):
        runs = np.array([np.concatenate([rbm.cd_k(chains, P, np.random.default_rng(10 * k + b), k=k,
                                                  negative_visible=stat).grads[key].ravel() for key in P])
                         for b in range(6)])
        exact = np.concatenate([expected_cd_k_gradient(data, P, k, stat)[key].ravel() for key in P])
        se = np.sqrt((runs.var(axis=0, ddof=1) / len(runs)).sum())
        assert np.linalg.norm(runs.mean(axis=0) - exact) < 4 * se, (k, stat)
    with pytest.raises(ValueError, match="k >= 1"):
        expected_cd_k_gradient(data, P, 0)


# --- each tutorial's own checks, on answers other than the solutions ------------------------------

@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The namespace of a tutorial run in fast mode in this process, so that its check functions can be
    called with any answer (the same runner that grades submissions: dmf_np.grading.run_cells)."""
    done = {}

    def get(number):
        if number not in done:
            mp = pytest.MonkeyPatch()
            mp.setenv("DMF_TUTORIAL_FAST", "1")
            mp.setenv("MPLBACKEND", "Agg")
            mp.setenv("DMF_FIGURES_DIR", str(tmp_path_factory.mktemp(f"tutorial{number}")))
            mp.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)
            path = next(p for p in TUTORIALS if int(p.name[:2]) == number)
            try:
                namespace, errors = grading.run_cells(path, number, io.StringIO())
            finally:
                mp.undo()
            assert not errors, errors
            done[number] = namespace
        return done[number]

    return get


def _cd_with_binomial(v0, P, rng, k, negative_visible="probs"):
    """A correct CD-k that draws its states with rng.binomial, not in the library's order."""
    def f(a):
        return 1.0 / (1.0 + np.exp(-a))

    W, b_h, b_v = P["W"], P["b_h"], P["b_v"]
    p0 = f(v0 @ W.T + b_h)
    h = rng.binomial(1, p0)
    for step in range(k):
        v = f(h @ W + b_v)
        if step < k - 1 or negative_visible == "samples":
            v = rng.binomial(1, v).astype(np.float64)
        p = f(v @ W.T + b_h)
        if step < k - 1:
            h = rng.binomial(1, p)
    return {"W": (p.T @ v - p0.T @ v0) / len(v0), "b_h": (p - p0).mean(axis=0), "b_v": (v - v0).mean(axis=0)}


def test_exercise_2_2_accepts_a_cd_k_that_draws_differently(tutorial, capsys):
    check = tutorial(2)["check_my_cd_k"]
    assert check_answer(_cd_with_binomial, check).passed
    assert "your CD-k" in capsys.readouterr().out                  # the bias table, recomputed

    def swapped(v0, P, rng, k, negative_visible="probs"):
        return _cd_with_binomial(v0, P, rng, k, "samples" if negative_visible == "probs" else "probs")

    outcome = check_answer(swapped, check)
    assert outcome.status == exercises.WRONG and "matches CD-k with negative_visible='samples'" in outcome.message
    outcome = check_answer(lambda v0, P, rng, k, negative_visible="probs": [P["W"]], check)
    assert outcome.status == exercises.WRONG and "return a dict" in outcome.message


def test_exercise_6_1_takes_the_papers_prediction(tutorial, capsys):
    check = tutorial(6)["check_prediction"]
    capsys.readouterr()
    assert check_answer(lambda: ["dmf", "imf", "emf"], check).passed     # the paper's Fig. 4, a plausible guess
    out = capsys.readouterr().out
    assert "You put DMF below IMF" in out and "Your order is the run's at" in out
    assert check_answer(lambda: ("EMF", "IMF", "DMF"), check).passed
    for malformed in (lambda: ["dmf", "imf"], lambda: "dmf imf emf", lambda: None, lambda: ["dmf", "dmf", "imf"]):
        assert check_answer(malformed, check).status == exercises.WRONG


def test_exercise_6_2_hints(tutorial):
    check = tutorial(6)["check_paired_summary"]
    outcome = check_answer(lambda a, b: {"mean": 0}, check)
    assert outcome.status == exercises.WRONG and "(mean, std, a_lower)" in outcome.message

    def ddof0(a, b):
        d = np.subtract(a, b)
        return d.mean(), d.std(), int((d < 0).sum())

    outcome = check_answer(ddof0, check)
    assert outcome.status == exercises.WRONG and "ddof 1" in outcome.message


def test_exercise_3_checks(tutorial):
    ns = tutorial(3)
    assert check_answer(lambda L: float(L), ns["check_n_paths"]).passed
    outcome = check_answer(lambda L: L * (L - 1) // 2, ns["check_n_paths"])   # right for L = 3, the paper's case
    assert outcome.status == exercises.WRONG and "where can it cross" in outcome.message
    count = exercises.solution("3.2", "dmf_param_count")
    assert check_answer(lambda *a: float(count(*a)), ns["check_param_count"]).passed
    outcome = check_answer(lambda *a: count(*a) - 10, ns["check_param_count"])
    assert outcome.status == exercises.WRONG and "10 too few" in outcome.message
    outcome = check_answer(lambda *a: "many", ns["check_param_count"])
    assert outcome.status == exercises.WRONG and "return a number" in outcome.message


@pytest.mark.slow
def test_exercise_4_checks(tutorial):
    ns = tutorial(4)
    right = exercises.solution("4.2", "my_eq5_two_units")

    def no_fprime_at_s1(P2, fw2, deps_ds2):               # the slip the old hint invited: no s_1(1-s_1)
        s2 = fw2.s[2]
        delta_s2 = deps_ds2 * s2 * (1 - s2)
        return right(P2, fw2, deps_ds2)[0], (delta_s2 @ P2["W^s_1"]) @ P2["W^{x->s}_1"]

    outcome = check_answer(no_fprime_at_s1, ns["check_4_2"])
    assert outcome.status == exercises.WRONG and "s_1(1-s_1)" in outcome.message and "step 4" in outcome.message
    assert check_answer(lambda *a: list(right(*a)), ns["check_4_2"]).passed
    cut = exercises.solution("4.3", "my_paths_cut_by_chain")
    assert check_answer(lambda arch_, l: [list(t) for t in cut(arch_, l)], ns["check_4_3"]).passed
    outcome = check_answer(lambda arch_, l: {(0, k, "shared") for k in range(1, l + 1)}, ns["check_4_3"])
    assert outcome.status == exercises.WRONG and "(not an index)" in outcome.message
    outcome = check_answer(lambda arch_, l: {(n, k, "shared") for n in arch_.names for k in range(1, l)},
                           ns["check_4_3"])
    assert outcome.status == exercises.WRONG and "left out" in outcome.message and "'x'" not in outcome.message
