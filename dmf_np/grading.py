"""Grading a class's tutorial work: every submission in its own process, against hidden tests.

A submission is a student's copy of a tutorial, as a notebook (.ipynb) or a percent-format script
(.py), with the exercise stubs filled in. :func:`grade_folder` finds every submission under a
folder, tells from its content which tutorial it is, and runs it in a fresh Python process
(:func:`grade_submission`) with a time limit, so that a submission that crashes, hangs or calls
``os._exit`` costs only its own rows. In that process the submission's cells run one by one, as
"Run all" would, in fast mode (``DMF_TUTORIAL_FAST=1``), and a cell that raises is recorded and
skipped; then the hidden tests of ``tutorials/grading/tutorial_NN.py`` (not in the student's copy)
call the student's functions with fresh inputs, through :func:`dmf_np.exercises.check_answer`.

A hidden-test module holds ``EXERCISES = {"N.k": (function name, points)}`` and one
``test_N_k(fn)`` per exercise, which raises AssertionError with a hint when ``fn`` is wrong.
This is not a sandbox: a submission runs with the grader's rights (docs/teaching.md).

The process started for a submission is ``python -m dmf_np.grading SUBMISSION TESTS RESULTS``: it
writes one JSON line per graded exercise to RESULTS as soon as it has it, so the exercises graded
before a crash keep their points.
"""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = ROOT / "tutorials" / "grading"
SUFFIXES = (".py", ".ipynb")
FIELDS = ("student", "exercise", "points", "message")
_ATTEMPT = re.compile(r'attempt\(\s*["\'](\d+)\.\d+["\']')
_TITLE = re.compile(r"^#*\s*#\s+Tutorial (\d+)\b", re.MULTILINE)


@dataclass(frozen=True)
class Row:
    """One line of the grades CSV."""

    student: str
    exercise: str
    points: float
    message: str


# --- reading a submission --------------------------------------------------------------------

def cells(path: Path) -> list[str]:
    """The code cells of a notebook or a percent-format script, in order, as source text."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        nb = json.loads(text)
        sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                   for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        # IPython magics and shell escapes (%matplotlib, !pip) are not Python: commented out
        return ["\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                          for line in src.splitlines()) for src in sources]
    return [c for c in re.split(r"^# %%.*$", text, flags=re.MULTILINE) if c.strip()]


def tutorial_number(path: Path) -> int | None:
    """Which tutorial a submission is: from its attempt("N.k", ...) calls or its title, else its name."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        with contextlib.suppress(ValueError, KeyError, TypeError):
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
    for pattern in (_ATTEMPT, _TITLE):
        found = {int(n) for n in pattern.findall(text)}
        if len(found) == 1:
            return found.pop()
    m = re.match(r"(?:tutorial_?)?(\d{1,2})(?:_|$)", path.stem)
    return int(m.group(1)) if m else None


def tests_file(number: int, tests_dir: Path = TESTS_DIR) -> Path:
    return Path(tests_dir) / f"tutorial_{number:02d}.py"


def load_tests(path: Path):
    spec = importlib.util.spec_from_file_location(f"dmf_np_hidden_tests_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the child process: run one submission, grade it -------------------------------------------

def _tutorial_file(number: int) -> Path:
    """The tutorial a submission is a copy of: its cells find the repository from this path."""
    found = sorted((ROOT / "tutorials").glob(f"{number:02d}_*.py"))
    return found[0] if found else ROOT / "tutorials" / f"{number:02d}_submission.py"


def run_cells(path: Path, number: int, log) -> tuple[dict, list[str]]:
    """Executes the submission's cells in one namespace, as "Run all" would, going on past errors.

    Its ``__file__`` is the tutorial's own path, so its set-up cell finds the repository and the
    committed results as the original does. Returns (namespace, one line per cell that raised).
    """
    namespace = {"__name__": "__main__", "__file__": str(_tutorial_file(number))}
    errors = []
    for i, source in enumerate(cells(path), start=1):
        try:
            code = compile(source, f"{path.name}, cell {i}", "exec")
            with contextlib.redirect_stdout(log):
                exec(code, namespace)
        except (Exception, SystemExit) as exc:  # a student's cell may raise anything, or call sys.exit
            errors.append(f"cell {i}: {type(exc).__name__}: {exc}".splitlines()[0][:300])
    return namespace, errors


def _child(submission: str, tests: str, results: str) -> int:
    from .exercises import ERROR, NOT_ATTEMPTED, PASSED, WRONG, check_answer

    path, module = Path(submission), load_tests(Path(tests))
    number = int(re.search(r"(\d+)$", Path(tests).stem).group(1))
    log = io.StringIO()  # the submission's own printing (its attempt lines, its tables) is not graded
    namespace, errors = run_cells(path, number, log)
    with open(results, "a", encoding="utf-8") as out:
        for exercise, (name, points) in module.EXERCISES.items():
            fn = namespace.get(name)
            if not callable(fn):
                outcome_points, message = 0.0, f"no function {name} in the submission"
                if errors:
                    message += f" (first error: {errors[0]})"
            else:
                test = getattr(module, "test_" + exercise.replace(".", "_"))
                with contextlib.redirect_stdout(io.StringIO()):
                    outcome = check_answer(fn, test)
                outcome_points = float(points) if outcome.status == PASSED else 0.0
                message = {PASSED: "passed",
                           NOT_ATTEMPTED: "not attempted (the stub still raises NotImplementedError)",
                           WRONG: f"wrong: {outcome.message}",
                           ERROR: f"error: {outcome.message}"}[outcome.status]
            out.write(json.dumps({"exercise": exercise, "points": outcome_points, "message": message}) + "\n")
            out.flush()  # graded exercises survive a crash in the next one
    return 0


# --- the parent: one process per submission ----------------------------------------------------

def _environment(scratch: Path) -> dict:
    env = dict(os.environ, DMF_TUTORIAL_FAST="1", MPLBACKEND="Agg", DMF_FIGURES_DIR=str(scratch),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    for name in ("DMF_EXERCISE_SOLUTIONS", "DMF_BACKEND", "DMF_TUTORIAL6_TRAIN", "DMF_TUTORIAL_RUN_DIR",
                 "DMF_STUDY_JSON"):
        env.pop(name, None)  # the solutions switch above all: a submission is graded, not the solutions
    return env


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def grade_submission(path: Path, student: str, number: int, tests: Path, timeout: float) -> list[Row]:
    """Grades one submission in a fresh process; the rows of every exercise of its tutorial."""
    exercises = load_tests(tests).EXERCISES
    with tempfile.TemporaryDirectory(prefix="dmf_np-grade-") as scratch:
        results = Path(scratch) / "results.jsonl"
        cmd = [sys.executable, "-m", "dmf_np.grading", str(Path(path).resolve()), str(Path(tests).resolve()),
               str(results)]
        # its own session, so that a timeout ends whatever the submission started as well
        proc = subprocess.Popen(cmd, cwd=scratch, env=_environment(Path(scratch)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
            failure = None if proc.returncode == 0 else \
                f"the submission crashed (exit code {proc.returncode}) before this exercise was graded"
            if failure and _last_line(stderr):
                failure += f": {_last_line(stderr)}"
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            failure = f"timed out after {timeout:g} s before this exercise was graded"
        done = {}
        if results.is_file():
            for line in results.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError):
                    r = json.loads(line)
                    done[r["exercise"]] = Row(student, r["exercise"], float(r["points"]), r["message"])
    return [done.get(ex) or Row(student, ex, 0.0, failure or "not graded (no result came back)")
            for ex in exercises]


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, file) for every .py and .ipynb under folder: a student is a subfolder's name, or,
    for a file directly in folder, the file's name without its suffix."""
    folder = Path(folder)
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if (path.suffix not in SUFFIXES or not path.is_file() or ".ipynb_checkpoints" in rel.parts
                or any(p.startswith(".") for p in rel.parts)):
            continue
        found.append((rel.parts[0] if len(rel.parts) > 1 else path.stem, path))
    return found


def grade_folder(folder: Path, tests_dir: Path = TESTS_DIR, timeout: float = 300.0, tutorial: int | None = None,
                 log=print) -> list[Row]:
    """Grades every submission under ``folder``; the rows of all of them, in order."""
    rows = []
    for student, path in submissions(folder):
        number = tutorial or tutorial_number(path)
        tests = tests_file(number, tests_dir) if number is not None else None
        if tests is None or not tests.is_file():
            why = ("cannot tell which tutorial it is (no attempt(...) call, title or NN_ in its name)"
                   if number is None else f"no hidden tests for tutorial {number} ({tests})")
            rows.append(Row(student, "-", 0.0, f"{path.name}: {why}"))
            log(f"{student}: {path.name}: skipped, {why}")
            continue
        got = grade_submission(path, student, number, tests, timeout)
        rows.extend(got)
        log(f"{student}: {path.name} (tutorial {number}): {sum(r.points for r in got):g} of "
            f"{sum(p for _, p in load_tests(tests).EXERCISES.values()):g} points")
    return rows


def write_csv(rows: list[Row], out: Path) -> None:
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow([r.student, r.exercise, f"{r.points:g}", r.message.replace("\n", " ")])


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
