"""Distances, rankings and mean average precision."""
import numpy as np
import pytest

from dmf_np import backend
from dmf_np.retrieval import average_precision, distance_matrix, mean_average_precision, rank, retrieval_map


def test_average_precision_by_hand():
    # relevant at ranks 1, 3, 6 of 6: AP = (1/1 + 2/3 + 3/6) / 3
    rel = np.array([[1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    ap = average_precision(rel)
    assert ap[0] == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    assert ap[1] == 0.0


def test_average_precision_at_top_by_hand():
    # relevant at ranks 1, 3, 6; top 4 sees ranks 1 and 3 only: AP@4 = (1/1 + 2/3) / 2 (found, not all 3)
    rel = np.array([[1, 0, 1, 0, 0, 1],
                    [0, 0, 0, 0, 1, 1],    # relevant items exist, none in the top 4: AP@4 = 0
                    [0, 1, 0, 1, 0, 0]])   # every relevant item inside the top 4: AP@4 = full AP
    ap = average_precision(rel, top=4)
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
    assert ap[1] == 0.0
    assert ap[2] == pytest.approx(average_precision(rel)[2]) == pytest.approx((1 / 2 + 2 / 4) / 2)
    # top beyond the ranking's length is the full ranking
    np.testing.assert_allclose(average_precision(rel, top=50), average_precision(rel))
    d = np.array([[0.0, 0.1, 0.2, 0.3]])  # one relevant item, ranked 4th: AP = 1/4, AP@3 = 0, AP@4 = 1/4 / 1
    assert mean_average_precision(d, np.array([1]), np.array([0, 0, 0, 1]), top=3)[0] == 0.0
    assert mean_average_precision(d, np.array([1]), np.array([0, 0, 0, 1]), top=4)[0] == pytest.approx(0.25)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="top must be a positive integer"):
            average_precision(rel, top=bad)


def test_perfect_and_reversed_rankings():
    labels = np.array([0, 0, 1, 1, 2])
    feats = np.eye(3)[labels] + 0.01 * np.arange(5)[:, None]
    m, ap = mean_average_precision(distance_matrix(feats, feats, "euclidean"), labels, labels)
    assert m == pytest.approx(1.0)
    # worst case for a single relevant item last among 4: AP = 1/4
    d = np.array([[0.0, 0.1, 0.2, 0.3]])
    assert mean_average_precision(d, np.array([1]), np.array([0, 0, 0, 1]))[0] == pytest.approx(0.25)


def test_distances_against_brute_force(xp):
    rng = np.random.default_rng(0)
    q, it = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
    c = it.mean(0)
    cos = np.array([[1 - (a - c) @ (b - c) / np.linalg.norm(a - c) / np.linalg.norm(b - c) for b in it] for a in q])
    corr = np.array([[1 - np.corrcoef(a, b)[0, 1] for b in it] for a in q])
    euc = np.array([[np.linalg.norm(a - b) for b in it] for a in q])
    for metric, ref in (("cosine", cos), ("correlation", corr), ("euclidean", euc)):
        got = distance_matrix(backend.to_device(q, xp), backend.to_device(it, xp), metric)
        np.testing.assert_allclose(backend.to_host(got), ref, atol=1e-7)


def test_query_centre_centres_the_queries_alone(xp):
    """Each side on its own mean: queries minus query_centre, items minus centre."""
    rng = np.random.default_rng(2)
    q, it = rng.standard_normal((3, 4)) + 2.0, rng.standard_normal((5, 4))
    cq, ci = q.mean(0), it.mean(0)
    ref = np.array([[1 - (a - cq) @ (b - ci) / np.linalg.norm(a - cq) / np.linalg.norm(b - ci) for b in it]
                    for a in q])
    got = distance_matrix(backend.to_device(q, xp), backend.to_device(it, xp), "cosine",
                          query_centre=backend.to_device(cq, xp))
    np.testing.assert_allclose(backend.to_host(got), ref, atol=1e-7)
    same = distance_matrix(q, it, "cosine", query_centre=None)  # default: the items' centre for both
    assert not np.allclose(same, ref)


def test_ties_keep_item_order_and_random_features_score_near_prior():
    assert rank(np.zeros((1, 4))).tolist() == [[0, 1, 2, 3]]
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 800)
    m = retrieval_map(rng.standard_normal((200, 5)), rng.standard_normal((800, 5)), labels[:200], labels)
    assert abs(m - 0.25) < 0.05  # chance level = the share of relevant items


def test_bad_shapes():
    with pytest.raises(ValueError, match="one d"):
        distance_matrix(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="do not match"):
        mean_average_precision(np.zeros((2, 3)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="unknown metric"):
        distance_matrix(np.zeros((2, 3)), np.zeros((2, 3)), "manhattan")
