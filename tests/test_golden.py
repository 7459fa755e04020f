"""The golden run (scripts/golden_run.py), the bit-exactness check for refactors, is deterministic.

Its hash is compared by hand before and after a change on one machine (it depends on the machine's
BLAS kernels and thread count: docs/reproducibility.md); this test only checks that two runs in one
process agree to the bit, which is what makes the comparison meaningful.
"""

import pytest


@pytest.mark.slow
def test_golden_run_is_deterministic(script, tmp_path):
    golden = script("golden_run")
    first, parts = golden.run_hash(tmp_path / "a")
    second, _ = golden.run_hash(tmp_path / "b")
    assert first == second
    assert any(name.endswith("pretrained.npz") for name in parts)  # the CD epoch is in the hash
    assert any(name.endswith("finetune.npz") for name in parts)    # and the fine-tuning
