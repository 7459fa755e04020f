"""Exercises in the tutorials: a stub for the reader to fill in, checked by the tutorial itself.

A tutorial's exercise is three cells: a markdown cell ("### Exercise 4.1: ..."), a code cell with a
stub that raises ``NotImplementedError``, and a call ``attempt("4.1", my_function, check)``, where
``check(fn)`` is the tutorial's own test of an answer (it raises AssertionError when the answer is
wrong). Until the stub is filled in, :func:`attempt` says so and the tutorial runs on, so the
executed pages of the site and the fast-mode tests work with the stubs in place.

The solutions live in ``tutorials/solutions/tutorial_NN.py`` (NN the tutorial number), one function
per exercise with the stub's name. With ``DMF_EXERCISE_SOLUTIONS=1`` in the environment,
:func:`attempt` checks the solution instead of the stub: that is how the tests show that every
solution passes its tutorial's check (tests/test_exercises.py).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "tutorials" / "solutions"


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


def attempt(exercise: str, fn, check) -> bool:
    """Check the reader's ``fn`` with ``check(fn)``; print the outcome. Returns True when it passed.

    A stub that still raises NotImplementedError is reported as not attempted (no error). A wrong
    answer raises the check's AssertionError, with its message, so the reader sees what is off.
    """
    if os.environ.get("DMF_EXERCISE_SOLUTIONS") == "1":
        fn = solution(exercise, fn.__name__)
    try:
        check(fn)
    except NotImplementedError:
        print(f"Exercise {exercise}: not attempted yet (fill in {fn.__name__}; a solution is in "
              f"tutorials/solutions/tutorial_{int(exercise.split('.')[0]):02d}.py)")
        return False
    print(f"Exercise {exercise}: passed")
    return True
