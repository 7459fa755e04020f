"""`python -m dmf_np grade`: a class's submissions, each in its own process, against the hidden tests.

The submissions are tutorial 3 (no plots, under a second to run) as students would hand it in: one
right, one wrong, one that kills its own process, one that kills it only inside an exercise's
function, one that never ends, one notebook. The CSV must say exactly what happened to each.
"""
import csv
import json
import re
from pathlib import Path

import pytest

from dmf_np import exercises, grading
from dmf_np.cli import main as cli_main
from dmf_np.exercises import check_answer

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = (ROOT / "tutorials" / "03_three_fusion_schemes.py").read_text()
STUB_31 = 'raise NotImplementedError("exercise 3.1: count the paths")'
STUB_32 = 'raise NotImplementedError("exercise 3.2: count the parameters")'
# a correct count, written differently from the solution in tutorials/solutions/tutorial_03.py
COUNT = """L = len(shared_sizes)
    per_modality = sum(sum(s[l + 1] * (s[l] + 1) for l in range(L - 1)) + sum(shared_sizes[l] * s[l] for l in range(L))
                       for s in modality_sizes)
    shared = sum(shared_sizes[l + 1] * shared_sizes[l] for l in range(L - 1)) + sum(shared_sizes)
    return per_modality + shared + n_classes * (shared_sizes[-1] + 1)"""
RIGHT = TUTORIAL.replace(STUB_31, "return L").replace(STUB_32, COUNT)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _notebook(text: str) -> str:
    """A percent-format script as a minimal .ipynb (markdown cells kept as markdown)."""
    cells = []
    for chunk in re.split(r"^(# %%.*)$", text, flags=re.MULTILINE)[1:]:
        if chunk.startswith("# %%"):
            kind = "markdown" if "[markdown]" in chunk else "code"
            continue
        cells.append({"cell_type": kind, "metadata": {}, "source": chunk.strip("\n"),
                      **({"outputs": [], "execution_count": None} if kind == "code" else {})})
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _rows(path: Path) -> dict:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["student", "exercise", "points", "message"]
        return {(r["student"], r["exercise"]): (float(r["points"]), r["message"]) for r in reader}


def test_grade_a_class(tmp_path, monkeypatch, capsys):
    # the solutions switch must not leak into a student's process: then every stub would "pass"
    monkeypatch.setenv("DMF_EXERCISE_SOLUTIONS", "1")
    subs = tmp_path / "submissions"
    _write(subs / "alice" / "03_three_fusion_schemes.py", RIGHT)
    _write(subs / "bob" / "03_three_fusion_schemes.py", TUTORIAL.replace(STUB_31, "return 2 ** (L - 1) - 1"))
    crash = RIGHT.replace("# %% [markdown]\n# ## 5.", "# %%\nimport os\nos._exit(3)\n\n# %% [markdown]\n# ## 5.")
    _write(subs / "carol" / "03_three_fusion_schemes.py", crash)
    # dies only on the hidden test's four-modality network: after the tutorial ran, and 3.1 was graded
    late = RIGHT.replace(COUNT, "if len(modality_sizes) == 4:\n        import os\n        os._exit(4)\n    " + COUNT)
    _write(subs / "dave" / "03_three_fusion_schemes.py", late)
    _write(subs / "erin.ipynb", _notebook(RIGHT))                # a flat layout: the student is the file
    out = tmp_path / "grades.csv"
    assert cli_main(["grade", str(subs), "--out", str(out), "--timeout", "120"]) == 0
    rows = _rows(out)
    assert len(rows) == 10
    assert rows[("alice", "3.1")] == (1.0, "passed") and rows[("alice", "3.2")] == (2.0, "passed")
    assert rows[("erin", "3.1")] == (1.0, "passed") and rows[("erin", "3.2")] == (2.0, "passed")
    points, message = rows[("bob", "3.1")]
    assert points == 0 and message.startswith("wrong: L = 2: 1 is not the number of paths") and "cross" in message
    assert rows[("bob", "3.2")] == (0.0, "not attempted (the stub still raises NotImplementedError)")
    for exercise in ("3.1", "3.2"):
        points, message = rows[("carol", exercise)]
        assert points == 0 and message.startswith("the submission crashed (exit code 3)")
    assert rows[("dave", "3.1")] == (1.0, "passed")        # graded before the crash: kept
    assert rows[("dave", "3.2")][0] == 0 and "crashed (exit code 4)" in rows[("dave", "3.2")][1]
    assert "alice: 03_three_fusion_schemes.py (tutorial 3): 3 of 3 points" in capsys.readouterr().out


def test_a_looping_submission_is_stopped(tmp_path):
    loop = _write(tmp_path / "frank.py", TUTORIAL.replace(STUB_31, "while True:\n        pass"))
    tests = grading.tests_file(3)
    rows = grading.grade_submission(loop, "frank", 3, tests, timeout=3)
    assert [(r.exercise, r.points) for r in rows] == [("3.1", 0.0), ("3.2", 0.0)]
    assert all(r.message == "timed out after 3 s before this exercise was graded" for r in rows)


def test_a_file_that_is_no_tutorial_gets_one_row(tmp_path):
    _write(tmp_path / "subs" / "gina" / "notes.py", "print('hello')\n")
    rows = grading.grade_folder(tmp_path / "subs", log=lambda _: None)
    assert len(rows) == 1 and rows[0].student == "gina" and rows[0].points == 0
    assert "cannot tell which tutorial" in rows[0].message


@pytest.mark.parametrize("name, number", [("03_three_fusion_schemes.py", 3), ("tutorial_09.py", 9),
                                          ("homework.py", None)])
def test_tutorial_number_from_name_when_content_says_nothing(tmp_path, name, number):
    assert grading.tutorial_number(_write(tmp_path / name, "x = 1\n")) == number


def test_tutorial_number_from_content(tmp_path):
    assert grading.tutorial_number(_write(tmp_path / "mine.py", RIGHT)) == 3
    assert grading.tutorial_number(_write(tmp_path / "mine.ipynb", _notebook(RIGHT))) == 3


HIDDEN = sorted(grading.TESTS_DIR.glob("tutorial_[0-9][0-9].py"))


@pytest.mark.parametrize("path", HIDDEN, ids=[p.stem for p in HIDDEN])
def test_hidden_tests_pass_the_solutions_and_not_the_stubs(path):
    module = grading.load_tests(path)
    tutorial = next((ROOT / "tutorials").glob(f"{path.stem[-2:]}_*.py")).read_text()
    for exercise, (name, points) in module.EXERCISES.items():
        assert points > 0 and f'attempt("{exercise}", {name},' in tutorial, f"{exercise}: no such exercise"
        test = getattr(module, "test_" + exercise.replace(".", "_"))
        assert check_answer(exercises.solution(exercise, name), test).passed, f"{exercise}: the solution fails"

        def stub(*args, **kwargs):
            raise NotImplementedError

        assert check_answer(stub, test).status == exercises.NOT_ATTEMPTED


def test_hidden_tests_answer_wrong_answers_with_a_hint():
    """A few plausible slips, each answered by a message (not a crash)."""
    import numpy as np

    slips = {
        3: {"3.1": lambda L: L - 1, "3.2": lambda mod, shared, n: 0},
        4: {"4.1": lambda d, W: d @ W.T if W.shape[0] == W.shape[1] else d @ W,
            "4.3": lambda arch, l: {(n, k, "shared") for n in arch.names for k in range(1, l)}},
        6: {"6.1": lambda: ["dmf", "imf"], "6.2": lambda a, b: (0.0, float(np.std(a)), 0)},
        9: {"9.1": lambda d, i: sum(x <= y for x, y in zip(d, i))},
    }
    for number, answers in slips.items():
        module = grading.load_tests(grading.tests_file(number))
        for exercise, fn in answers.items():
            outcome = check_answer(fn, getattr(module, "test_" + exercise.replace(".", "_")))
            assert outcome.status == exercises.WRONG and len(outcome.message) > 20, (exercise, outcome)


def test_the_teachers_page_lists_every_exercise_with_its_points():
    """docs/teaching.md's table says what the hidden tests award: the two must not drift apart."""
    table = re.findall(r"^\| (\d) \| (\d\.\d) \| `(\w+)`.*\| (\d+) \|$", (ROOT / "docs" / "teaching.md").read_text(),
                       flags=re.MULTILINE)
    listed = {exercise: (name, int(points)) for _, exercise, name, points in table}
    shipped = {ex: spec for path in HIDDEN for ex, spec in grading.load_tests(path).EXERCISES.items()}
    assert listed == shipped
