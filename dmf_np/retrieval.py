"""Cross-modal retrieval: distances in the joint space, rankings, and mean average precision.

A query of one modality (say an image) ranks every item of the other modality (the texts of the
retrieval set) by distance between their representations; an item is relevant when it has the
query's category. Average precision of one query over the *full* ranking:

    AP = (1 / R) sum_{k : item k relevant} precision@k,      precision@k = (#relevant in top k) / k

with R the number of relevant items; mAP is the mean of AP over all queries (Rasiwasia et al. 2010).
Truncated to the top ``top`` = R' items of the ranking (AP@R'), the sum runs over k <= R' and is
normalised by the number of relevant items retrieved in the top R' (0 when there are none), the
usual mAP@R of the cross-modal hashing literature.

Distance: ``cosine`` (1 - cosine similarity) of representations centred on a given mean, by default
the mean of the retrieval set's representations. Centring matters for sigmoid features, which are
all positive: uncentred, every pair has a large cosine and the ranking is dominated by the common
component. ``correlation`` centres each vector on its own mean instead; ``euclidean`` is plain.
"""
from __future__ import annotations

from .backend import array_module, to_host

METRICS = ("cosine", "correlation", "euclidean")


def _unit_rows(a):
    xp = array_module(a)
    return a / xp.maximum(xp.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def distance_matrix(queries, items, metric: str = "cosine", centre=None, query_centre=None):
    """Distances between every query and every item: (Q, d), (I, d) -> (Q, I).

    metric: 'cosine' (1 - cos of the items minus ``centre`` and the queries minus ``query_centre``;
    centre None: the items' mean; query_centre None: the same centre as the items), 'correlation'
    (1 - Pearson correlation: each vector centred on its own mean), 'euclidean'. A separate query
    centre lets each side be centred on its own modality's mean (queries and items of two modalities
    need not share one mean in the joint space).
    """
    xp = array_module(queries)
    if queries.ndim != 2 or items.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise ValueError(f"queries and items must be (Q, d) and (I, d) with one d, got "
                         f"{tuple(queries.shape)} and {tuple(items.shape)}")
    if metric == "cosine":
        c = items.mean(axis=0) if centre is None else centre
        cq = c if query_centre is None else query_centre
        return 1.0 - _unit_rows(queries - cq) @ _unit_rows(items - c).T
    if metric == "correlation":
        q = queries - queries.mean(axis=1, keepdims=True)
        i = items - items.mean(axis=1, keepdims=True)
        return 1.0 - _unit_rows(q) @ _unit_rows(i).T
    if metric == "euclidean":
        sq = (queries ** 2).sum(1)[:, None] + (items ** 2).sum(1)[None, :] - 2.0 * queries @ items.T
        return xp.sqrt(xp.maximum(sq, 0.0))
    raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")


def average_precision(relevance_ranked, top: int | None = None):
    """AP of each query from its ranked relevance: (Q, I) 0/1 in ranked order -> (Q,).

    A query with no relevant item gets AP 0 (it cannot be answered). ``top``: AP@top, over the first
    ``top`` ranks only, normalised by the relevant items found there (module docstring).
    """
    xp = array_module(relevance_ranked)
    if top is not None:
        if int(top) != top or top < 1:
            raise ValueError(f"top must be a positive integer (the ranks scored), got {top!r}")
        relevance_ranked = relevance_ranked[:, :int(top)]
    rel = relevance_ranked.astype(xp.float64)
    hits = xp.cumsum(rel, axis=1)
    ranks = xp.arange(1, rel.shape[1] + 1, dtype=xp.float64)
    n_rel = rel.sum(axis=1)
    return (rel * hits / ranks).sum(axis=1) / xp.maximum(n_rel, 1.0)


def rank(distances):
    """Item indices sorted by increasing distance, per query (stable: ties keep item order). (Q, I)."""
    xp = array_module(distances)
    return xp.argsort(distances, axis=1, kind="stable")


def relevance_ranked(distances, query_labels, item_labels):
    """(Q, I) bool: for each query, whether each item is relevant (same label), in ranked order."""
    xp = array_module(distances)
    query_labels = xp.asarray(query_labels)
    item_labels = xp.asarray(item_labels)
    if distances.shape != (query_labels.shape[0], item_labels.shape[0]):
        raise ValueError(f"distances {tuple(distances.shape)} do not match {query_labels.shape[0]} queries "
                         f"and {item_labels.shape[0]} items")
    return item_labels[rank(distances)] == query_labels[:, None]


def mean_average_precision(distances, query_labels, item_labels, top: int | None = None) -> tuple:
    """(mAP, per-query AP as a host array) of a (Q, I) distance matrix, relevant = same label;
    ``top``: mAP@top (:func:`average_precision`)."""
    return map_of(relevance_ranked(distances, query_labels, item_labels), top)


def map_of(relevance, top: int | None = None) -> tuple:
    """(mAP, per-query AP on the host) of a ranked relevance matrix (:func:`relevance_ranked`); one
    ranking can be scored at several cuts without ranking again."""
    ap = to_host(average_precision(relevance, top))
    return float(ap.mean()) if ap.size else float("nan"), ap


def retrieval_map(query_feats, item_feats, query_labels, item_labels, metric: str = "cosine", centre=None,
                  query_centre=None, top: int | None = None) -> float:
    """mAP (``top``: mAP@top) of ranking ``item_feats`` for each of ``query_feats`` (one joint space)."""
    return mean_average_precision(distance_matrix(query_feats, item_feats, metric, centre, query_centre),
                                  query_labels, item_labels, top)[0]
