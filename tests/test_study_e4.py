"""Study E4 (docs/claims.md): which Wiki protocol the paper's Table 2 used.

The pieces E4 adds to the Table 2 pipeline (the original split, mAP@R readings) and the study's own
decision rule, on hand-made numbers and on fake data of Wiki's shape; the real data where present.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from dmf_np.data.wiki import FILES, load_wiki, original_split
from dmf_np.experiments import wiki as W

WIKI_DIR = Path(os.environ.get("DMF_WIKI_DIR", "/work/shared/data/wiki"))
needs_wiki = pytest.mark.skipif(not all((WIKI_DIR / f).is_file() for f in FILES),
                                reason=f"Wiki features not found in {WIKI_DIR} (set $DMF_WIKI_DIR to the folder "
                                       "holding raw_features.mat and the .list files)")


def _fake_wiki(d: Path, n_tr=2173, n_te=693, seed=0) -> Path:
    """Random histograms of Wiki's shape, with one informative text topic so retrieval beats chance."""
    from scipy.io import savemat
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 11, n_tr + n_te)

    def hist(k, n, lab=None):
        a = rng.uniform(0, 1, (n, k))
        if lab is not None:
            a[np.arange(n), lab - 1] += 3.0
        return a / a.sum(1, keepdims=True)
    savemat(d / "raw_features.mat", {"I_tr": hist(128, n_tr), "I_te": hist(128, n_te),
                                     "T_tr": hist(10, n_tr, labels[:n_tr]), "T_te": hist(10, n_te, labels[n_tr:])})
    for name, rows in (("trainset_txt_img_cat.list", range(n_tr)),
                       ("testset_txt_img_cat.list", range(n_tr, n_tr + n_te))):
        (d / name).write_text("".join(f"t{i}\ti{i}\t{labels[i]}\n" for i in rows))
    (d / "categories.list").write_text("".join(f"c{k}\n" for k in range(10)))
    return d


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return _fake_wiki(tmp_path_factory.mktemp("wiki"))


# --- the original split (P1) ----------------------------------------------------------------------

@needs_wiki
def test_original_split_recovered_from_the_real_lists():
    data = load_wiki(WIKI_DIR)
    train, test = original_split(data)
    assert (len(train), len(test)) == (2173, 693)
    # rows are train list then test list: the test rows carry the test list's ids in its order
    first_test = (WIKI_DIR / "testset_txt_img_cat.list").read_text().splitlines()[0].split("\t")
    assert data.text_ids[test[0]] == first_test[0] and data.image_ids[test[0]] == first_test[1]
    assert data.labels[test[0]] == int(first_test[2]) - 1


def test_original_split_and_its_validation_carve(fake_dir):
    data = load_wiki(fake_dir, verify_checksums=False)
    train, test = original_split(data)
    assert (len(train), len(test)) == (2173, 693) and not set(train) & set(test)
    ix = [W.split_indices(data, "original", 0, s) for s in (11, 12)]
    for a in ix:
        assert (a["query"] == test).all() and (a["items"] == test).all() and (a["train"] == train).all()
        # validation mirrors the test protocol: queries are the items, carved from training pairs only
        assert (a["val_query"] == a["val_items"]).all() and len(a["val_query"]) == round(0.25 * 2173)
        assert not set(a["val_query"]) & set(a["val_train"]) and set(a["val_query"]) <= set(train)
    # one carve for every repeat (the repeats differ only in the networks' seeds)
    assert (ix[0]["val_query"] == ix[1]["val_query"]).all()
    # the random split is the one run_table2 always used
    r = W.split_indices(data, "random", 0, 7)
    q, rest = W.query_split(len(data), W.QUERY_FRACTION, 7)
    assert (r["query"] == q).all() and (r["items"] == rest).all() and (r["train"] == rest).all()
    assert (r["val_items"] == r["val_train"]).all() and not set(r["val_query"]) & set(r["val_items"])
    with pytest.raises(ValueError, match="unknown split"):
        W.split_indices(data, "pooled", 0, 0)


def test_in_p1_a_querys_own_partner_is_a_relevant_item(fake_dir):
    """Queries and items are the same pairs: each query's partner is ranked and counts as relevant.
    With a category per pair and every partner closest, mAP is 1; were partners left out, it would be 0."""
    data = load_wiki(fake_dir, verify_checksums=False)
    ix = W.split_indices(data, "original", 0, 0)
    q, items = ix["query"], ix["items"]
    assert set(q) <= set(items)
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((len(data), 16))
    unique = np.arange(len(data))  # a category per pair: the partner is the only relevant item
    m = W.ranking_map(codes[q], codes[items] + 1e-3, unique[q], unique[items], "cosine", None)
    assert m == pytest.approx(1.0)
    assert W.ranking_map(codes[q], codes[items], unique[q], unique[items], "cosine@1", None) == pytest.approx(1.0)


def test_cut_rankings_parse_and_score_the_top():
    assert W.parse_ranking("cosine") == ("cosine", None) and W.parse_ranking("euclidean@50") == ("euclidean", 50)
    for bad in ("cosine@0", "cosine@x", "manhattan@5", "cosine@"):
        with pytest.raises(ValueError, match="unknown ranking"):
            W.parse_ranking(bad)
    assert "top 50" in W.ranking_text("cosine@50")
    rng = np.random.default_rng(1)
    q, it = rng.standard_normal((30, 4)), rng.standard_normal((200, 4))
    ql, il = rng.integers(0, 3, 30), rng.integers(0, 3, 200)
    full = W.ranking_map(q, it, ql, il, "cosine", None)
    assert W.ranking_map(q, it, ql, il, "cosine@200", None) == pytest.approx(full)
    assert W.ranking_map(q, it, ql, il, "cosine@50", None) != pytest.approx(full)
