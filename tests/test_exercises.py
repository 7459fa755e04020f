"""The tutorials' exercises: every solution passes its tutorial's check, and the stubs never break a run.

A tutorial with exercises calls ``attempt("N.k", stub, check)`` (dmf_np.exercises). Each such
tutorial is run the way a reader runs it (``python tutorials/NN_name.py`` from the repository root,
in fast mode, figures in a temporary directory) twice: with ``DMF_EXERCISE_SOLUTIONS=1`` every
exercise must report "passed", so the solutions in tutorials/solutions/ pass the tutorial's own
checks; without it every exercise must report "not attempted yet" and the tutorial must still exit 0.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dmf_np import exercises
from dmf_np.exercises import attempt

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
    assert attempt("9.1", lambda x: x * x, _check_square) is True
    assert capsys.readouterr().out.strip() == "Exercise 9.1: passed"


def test_attempt_raises_the_checks_message_on_a_wrong_answer(monkeypatch):
    monkeypatch.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)
    with pytest.raises(AssertionError, match=r"fn\(3\) should be 9, got 6"):
        attempt("9.1", lambda x: x + x, _check_square)


def test_attempt_reports_a_stub_as_not_attempted(capsys, monkeypatch):
    monkeypatch.delenv("DMF_EXERCISE_SOLUTIONS", raising=False)

    def square(x):
        raise NotImplementedError("exercise 9.1")

    assert attempt("9.1", square, _check_square) is False
    out = capsys.readouterr().out
    assert out.startswith("Exercise 9.1: not attempted yet") and "square" in out and "tutorial_09.py" in out


def test_attempt_checks_the_solution_under_the_environment_switch(tmp_path, monkeypatch, capsys):
    (tmp_path / "tutorial_09.py").write_text("def square(x):\n    return x * x\n")
    monkeypatch.setattr(exercises, "SOLUTIONS_DIR", tmp_path)
    monkeypatch.setenv("DMF_EXERCISE_SOLUTIONS", "1")

    def square(x):
        raise NotImplementedError

    assert attempt("9.1", square, _check_square) is True
    assert capsys.readouterr().out.strip() == "Exercise 9.1: passed"
    (tmp_path / "tutorial_09.py").write_text("def cube(x):\n    return x ** 3\n")
    with pytest.raises(AttributeError, match="no solution 'square'"):
        attempt("9.1", square, _check_square)
