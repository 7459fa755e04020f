"""Exercises in the tutorials: a stub for the reader to fill in, checked by the tutorial itself.

A tutorial's exercise is three cells: a markdown cell ("### Exercise 4.1: ..."), a code cell with a
stub that raises ``NotImplementedError``, and a call ``attempt("4.1", my_function, check)``, where
``check(fn)`` is the tutorial's own test of an answer (it raises AssertionError, with a hint, when
the answer is wrong). :func:`attempt` prints one line per exercise and never raises, so the executed
pages of the site, the fast-mode tests and a reader's "Run all" go on past a stub, a wrong answer
or an answer that crashes:

    Exercise 4.1: passed
    Exercise 4.1: not attempted yet (fill in ...)
    Exercise 4.1: not right yet: <the check's hint>
    Exercise 4.1: your answer raised ValueError: <message> (<where>)

It returns None, so a notebook shows nothing after the line (a returned bool would print ``False``).

The solutions live in ``tutorials/solutions/tutorial_NN.py`` (NN the tutorial number), one function
per exercise with the stub's name. With ``DMF_EXERCISE_SOLUTIONS=1`` in the environment,
:func:`attempt` checks the solution instead of the stub: that is how the tests show that every
solution passes its tutorial's check (tests/test_exercises.py). A teacher grades a class with
hidden tests that use the same :func:`check_answer` (``python -m dmf_np grade``, docs/teaching.md).
"""
from __future__ import annotations

import importlib.util
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "tutorials" / "solutions"

PASSED, NOT_ATTEMPTED, WRONG, ERROR = "passed", "not attempted", "wrong", "error"


@dataclass(frozen=True)
class Outcome:
    """What a check made of an answer: ``status`` one of passed / not attempted / wrong / error."""

    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def _where(exc: BaseException) -> str:
    """The innermost frame of an exception as "in NAME, line N: CODE" (a notebook cell has no file)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f"in {f.name}, line {f.lineno}:{code}"


def check_answer(fn, check) -> Outcome:
    """Runs ``check(fn)`` and says what came of it; never raises (an Exception, that is).

    NotImplementedError means the stub is untouched; AssertionError is a wrong answer, its message
    the hint; any other exception is an answer that crashed (or a check that could not use it),
    reported with its type, message and the line it came from.
    """
    try:
        check(fn)
    except NotImplementedError:
        return Outcome(NOT_ATTEMPTED)
    except AssertionError as exc:
        return Outcome(WRONG, str(exc) or "the check failed (it gave no message)")
    except Exception as exc:  # noqa: BLE001 - a student's answer may raise anything; report it, do not crash
        where = _where(exc)
        return Outcome(ERROR, f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else ""))
    return Outcome(PASSED)


def solution(exercise: str, name: str):
    """The solution function ``name`` of exercise "N.k", from tutorials/solutions/tutorial_NN.py."""
    number = int(exercise.split(".")[0])
    path = SOLUTIONS_DIR / f"tutorial_{number:02d}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no solutions file {path} for exercise {exercise}")
    spec = importlib.util.spec_from_file_location(f"dmf_np_solutions_{number:02d}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise AttributeError(f"{path.name} has no solution {name!r} for exercise {exercise}")
    return getattr(module, name)


def attempt(exercise: str, fn, check) -> None:
    """Check the reader's ``fn`` with ``check(fn)`` and print one line saying how it went.

    Returns None and never raises for anything the answer does: a stub is "not attempted yet", a
    wrong answer prints the check's hint, a crashing one the error and where it happened.
    """
    if os.environ.get("DMF_EXERCISE_SOLUTIONS") == "1":
        fn = solution(exercise, fn.__name__)
    outcome = check_answer(fn, check)
    number = int(exercise.split(".")[0])
    if outcome.status == NOT_ATTEMPTED:
        print(f"Exercise {exercise}: not attempted yet (fill in {fn.__name__}; a solution is in "
              f"tutorials/solutions/tutorial_{number:02d}.py)")
    elif outcome.status == WRONG:
        print(f"Exercise {exercise}: not right yet: {outcome.message}")
    elif outcome.status == ERROR:
        print(f"Exercise {exercise}: your answer raised {outcome.message}")
    else:
        print(f"Exercise {exercise}: passed")
