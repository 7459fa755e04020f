"""Damage masks for the right half: the right fraction, the right shape, seeded."""
import numpy as np
import pytest

from dmf_np.data.damage import (DamageSpec, apply_mask, damage_mask, damage_seed, pixel_mask, region_mask,
                                region_shape)


@pytest.mark.parametrize("level", [0, 30, 50, 70])
def test_pixel_mask_has_exact_fraction_per_image(level):
    mask = damage_mask(200, level, "pixels", np.random.default_rng(0))
    assert mask.shape == (200, 392) and mask.dtype == bool
    assert (mask.sum(axis=1) == round(level / 100 * 392)).all()
    if level:
        assert len({row.tobytes() for row in mask}) == 200  # a fresh random subset per image
        # every pixel is hit about equally often
        assert abs(mask.mean(axis=0).mean() - level / 100) < 0.01


@pytest.mark.parametrize("level", [30, 50, 70])
def test_region_mask_is_one_rectangle_of_the_fraction(level):
    mask = damage_mask(100, level, "region", np.random.default_rng(1)).reshape(100, 28, 14)
    h, w = region_shape(level / 100)
    assert abs(h * w / 392 - level / 100) < 0.01
    tops = set()
    for m in mask:
        rows, cols = np.nonzero(m)
        assert m.sum() == h * w
        assert rows.max() - rows.min() + 1 == h and cols.max() - cols.min() + 1 == w  # contiguous box
        tops.add((rows.min(), cols.min()))
    assert len(tops) > 5  # placed at random


def test_masks_are_seeded():
    for kind in ("pixels", "region"):
        a = damage_mask(50, 30, kind, np.random.default_rng(damage_seed(7, 30, "train")))
        b = damage_mask(50, 30, kind, np.random.default_rng(damage_seed(7, 30, "train")))
        c = damage_mask(50, 30, kind, np.random.default_rng(damage_seed(7, 30, "test")))
        np.testing.assert_array_equal(a, b)
        assert (a != c).any()


def test_apply_mask_zeroes_only_masked_pixels():
    rng = np.random.default_rng(2)
    right = rng.random((10, 392)).astype(np.float32) + 0.1
    mask = pixel_mask(10, 0.5, rng)
    out = apply_mask(right, mask)
    assert (out[mask] == 0).all() and (out[~mask] == right[~mask]).all()
    assert (right > 0).all()  # the input is not modified
    with pytest.raises(ValueError, match="differ in shape"):
        apply_mask(right[:, :10], mask)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="kind"):
        damage_mask(3, 30, "blur", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        damage_mask(3, 130, "pixels", np.random.default_rng(0))
    with pytest.raises(ValueError, match="when"):
        DamageSpec("pixels", "sometimes")
    with pytest.raises(ValueError, match="split"):
        damage_seed(0, 30, "dev")


def test_spec_training_level():
    assert DamageSpec("pixels", "train+test").train_level(50) == 50
    assert DamageSpec("region", "test").train_level(50) == 0
    assert DamageSpec("region", "test").tag == "region_test"
    assert region_mask(4, 0.0, np.random.default_rng(0)).sum() == 0
