"""Worked solution of tutorial 9's exercise (checked by tests/test_exercises.py)."""


def seeds_below(dmf_errors, imf_errors):
    """Exercise 9.1: paired seeds where DMF's test error is strictly below IMF's.

    The lists are in seed order, so position k of each is the same seed: the same data order, the
    same damage masks, the same initial draws. Comparing within a seed removes what the seeds share;
    a tie is not a win for DMF (docs/claims.md, "Sign counts").
    """
    return sum(d < i for d, i in zip(dmf_errors, imf_errors, strict=True))
