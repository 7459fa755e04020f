"""Study E4 (docs/claims.md): which Wiki protocol the paper's Table 2 used.

The pieces E4 adds to the Table 2 pipeline (the original split, mAP@R readings) and the study's own
decision rule, on hand-made numbers and on fake data of Wiki's shape; the real data where present.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dmf_np.data.wiki import FILES, load_wiki, original_split
from dmf_np.experiments import wiki as W
from markdown_tables import numbers, tables

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


# --- the decision rule on hand-made numbers -------------------------------------------------------

def _res(i2t: dict, t2i: dict, n=5) -> dict:
    """{task: {method: cell}} from {method: (mean, std)} per task."""
    return {t: {m: {"mean": mu, "std": sd, "n": n, "values": []} for m, (mu, sd) in d.items()}
            for t, d in (("i2t", i2t), ("t2i", t2i))}


def test_match_picks_the_protocol_whose_cca_is_closest_within_the_tolerance():
    from dmf_np.experiments.study_e4 import e4_match
    nets = {"emf": (0.2, 0.01), "imf": (0.2, 0.01), "dmf": (0.2, 0.01)}
    s = {"P0": _res({"cca": (0.264, 0.007), **nets}, {"cca": (0.247, 0.004), **nets}),      # T2I off by 0.051
         "P1": _res({"cca": (0.262, 0.0), **nets}, {"cca": (0.190, 0.0), **nets}),          # off by 0.013 / 0.006
         "P1@50": _res({"cca": (0.245, 0.0), **nets}, {"cca": (0.210, 0.0), **nets}),       # 0.004 / 0.014
         "P3": _res({"cca": (0.240, 0.01), **nets}, {"cca": (0.2170, 0.01), **nets})}       # 0.009 / 0.021: out
    m = e4_match(s)
    assert m["within"] == ["P1", "P1@50"] and m["matched"] == ["P1"] and m["judge_under"] == ["P1"]
    assert m["deviation"]["P1"]["larger"] == pytest.approx(0.013)
    assert "P1" in m["text"] and "also within: P1@50" in m["text"]
    none = e4_match({"P0": s["P0"], "P3": s["P3"]})
    assert none["matched"] == [] and none["judge_under"] == ["P0", "P3"] and "no protocol matches" in none["text"]


def test_c4_verdicts_supported_reversed_not_supported_inconclusive():
    from dmf_np.experiments.study_e4 import c4_rule, c4_verdict, dmf_distance
    base = {"cca": (0.25, 0.01), "emf": (0.26, 0.01), "imf": (0.27, 0.02)}
    # DMF ahead of each by more than the larger std (IMF: 0.30 - 0.27 = 0.03 > 0.02)
    assert c4_rule(_res({**base, "dmf": (0.30, 0.01)}, {**base, "dmf": (0.30, 0.01)}))["verdict"] == "supported"
    # ahead of IMF by less than its std on one task: not supported
    assert c4_rule(_res({**base, "dmf": (0.30, 0.01)}, {**base, "dmf": (0.285, 0.01)}))["verdict"] == "not supported"
    # one method above DMF on both tasks by the margin: reversed (CCA, EMF above on I2T only do not count)
    r = c4_rule(_res({**base, "dmf": (0.235, 0.01)}, {**base, "emf": (0.25, 0.01), "dmf": (0.245, 0.001)}))
    assert r["verdict"] == "reversed" and "IMF" in r["why"] and "CCA" not in r["why"]
    # fewer than 5 repeats, or a method missing: inconclusive; P1's deterministic CCA may count once
    assert c4_rule(_res({**base, "dmf": (0.3, 0.01)}, {**base, "dmf": (0.3, 0.01)}, n=3))["verdict"] == "inconclusive"
    assert c4_rule(_res({"cca": (0.2, 0.0), "dmf": (0.3, 0.0)}, {"cca": (0.2, 0.0), "dmf": (0.3, 0.0)}))["verdict"] \
        == "inconclusive"
    p1 = _res({**base, "dmf": (0.30, 0.01)}, {**base, "dmf": (0.30, 0.01)})
    for t in ("i2t", "t2i"):
        p1[t]["cca"]["n"] = 1
    assert c4_rule(p1)["verdict"] == "inconclusive" and c4_rule(p1, cca_once=True)["verdict"] == "supported"
    # judged under the matching protocol only; with none, under each, one verdict only when they agree
    cca_ok = {"cca": (0.249, 0.0), "emf": (0.26, 0.01), "imf": (0.27, 0.02)}
    s = {"P0": _res({**base, "cca": (0.30, 0.01), "dmf": (0.22, 0.01)},
                    {**base, "cca": (0.30, 0.01), "dmf": (0.24, 0.01)}),
         "P1": _res({**cca_ok, "dmf": (0.30, 0.01)}, {**cca_ok, "cca": (0.196, 0.0), "dmf": (0.56, 0.01)})}
    for t in ("i2t", "t2i"):
        s["P1"][t]["cca"]["n"] = 1
    v = c4_verdict(s)
    assert v["judge_under"] == ["P1"] and v["verdict"] == "supported" and v["text"] == "C4 supported under P1"
    s["P1"]["t2i"]["cca"]["mean"] = 0.30  # no match now: judged under P0 (reversed) and P1 (not supported)
    s["P1"]["t2i"]["dmf"]["mean"] = 0.305
    v = c4_verdict(s)
    assert v["verdict"] is None and v["by_protocol"]["P0"]["verdict"] == "reversed"
    assert v["by_protocol"]["P1"]["verdict"] == "not supported" and "differs by protocol" in v["text"]
    assert dmf_distance(s)["P1"]["t2i"] == pytest.approx(0.305 - 0.5612)


# --- the whole study on small synthetic data: layout, wrapping run_table2, resume ---------------

def _small_wiki(n_tr=120, n_te=48, seed=0):
    from dmf_np.data.wiki import WikiData
    rng = np.random.default_rng(seed)
    n = n_tr + n_te
    labels = rng.integers(0, 10, n)
    image = rng.uniform(0, 1, (n, 128))
    text = rng.uniform(0, 1, (n, 10))
    text[np.arange(n), labels] += 3.0
    image, text = image / image.sum(1, keepdims=True), text / text.sum(1, keepdims=True)
    ids = np.array([f"p{i}" for i in range(n)])
    return WikiData(image, text, labels, [f"c{k}" for k in range(10)], ids, ids, np.arange(n) < n_tr)


TINY = {"epochs": 1, "pretrain_epochs": 0, "net_grid": [{"preprocessing": "standardise", "lr": 0.002}],
        "modality_sizes": ((128, 16, 8), (10, 8, 8)), "shared_sizes": (16, 8, 4),
        "cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.1, 1.0)]}


def test_run_e4_layout_wraps_run_table2_and_resumes(tmp_path):
    from dmf_np.experiments import study_e4 as S
    from dmf_np.experiments.rundir import ConfigMismatch

    small = _small_wiki()
    plan = S.E4Plan(preset="quick", repeats=2, top_r=5, methods=("cca", "dmf"), overrides=TINY)
    rep = S.run_e4(small, tmp_path / "e4", plan, log=None)
    s = rep["summary"]
    assert list(s) == ["P0", "P0@5", "P1", "P1@5", "P3", "P3@5"]
    for key, res in s.items():
        for t in ("i2t", "t2i"):
            assert set(res[t]) == {"cca", "dmf"} and res[t]["dmf"]["n"] == 2
            assert res[t]["cca"]["n"] == (1 if key.startswith("P1") else 2)  # P1's CCA: one deterministic fit
            assert all(0.0 <= v <= 1.0 for v in res[t]["dmf"]["values"])
    # P1 ranks the 48 test pairs for the 48 test pairs; P0 ranks the random split's retrieval set
    p1_unit = W.RunDir(tmp_path / "e4" / "P1").result("split0", "dmf", "final0")
    assert (p1_unit["n_queries"], p1_unit["n_retrieval"], p1_unit["n_train"]) == (48, 48, 120)
    assert "cosine@5" in p1_unit["test_variants"]["single"]
    # P0 is run_table2's own protocol: the same numbers as a plain run_table2 call
    plain = W.run_table2(small, tmp_path / "plain", W.Options(W.with_overrides(W.PRESETS["quick"], TINY, splits=2),
                                                                methods=("cca", "dmf"), show_progress=False))
    for t in ("i2t", "t2i"):
        assert [s["P0"][t][m]["values"] for m in ("cca", "dmf")] == \
               [plain["reconstruct"][t][m]["values"] for m in ("cca", "dmf")]
    assert json.loads((tmp_path / "e4" / "e4.json").read_text())["summary"] == json.loads(json.dumps(s))
    maps = {tuple(r[:2]): r for r in tables((tmp_path / "e4" / "e4.md").read_text())[0][1:]}
    assert sorted(maps) == sorted((p, t.upper()) for p in s for t in ("i2t", "t2i"))
    dmf = s["P1@5"]["t2i"]["dmf"]        # columns: protocol, task, CCA, DMF, n
    assert numbers(maps[("P1@5", "T2I")][3]) == pytest.approx([dmf["mean"], dmf["std"]], abs=5e-5)
    # resume: every unit read back; a deleted unit alone is recomputed, to the same numbers
    units = sorted((tmp_path / "e4").glob("P*/units/**/result.json"))
    stamps = {p: p.stat().st_mtime_ns for p in units}
    (tmp_path / "e4" / "P1" / "units" / "split1" / "dmf" / "final0" / "result.json").unlink()
    again = S.run_e4(small, tmp_path / "e4", plan, log=None)
    assert again["summary"] == s
    changed = [p.relative_to(tmp_path / "e4").parts[:5] for p in units if p.stat().st_mtime_ns != stamps[p]]
    assert changed == [("P1", "units", "split1", "dmf", "final0")]
    assert S.e4_summary(tmp_path / "e4") == s
    with pytest.raises(ConfigMismatch):
        S.run_e4(small, tmp_path / "e4", S.E4Plan(preset="quick", repeats=3, top_r=5, methods=("cca", "dmf"),
                                                   overrides=TINY), log=None)
    with pytest.raises(ValueError, match="unknown E4 protocol"):
        S.E4Plan(protocols=("P2",))
    # a protocol's metrics.json is read only under the protocol its config.json pins
    metrics = json.loads((tmp_path / "e4" / "P0" / "metrics.json").read_text())
    metrics["protocol"]["seed"] = 1
    (tmp_path / "e4" / "P0" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="does not belong to the protocol"):
        S.e4_summary(tmp_path / "e4")


def test_e4_markdown_tables_show_the_summary_and_the_rule_lines():
    from dmf_np.experiments.study_e4 import c4_verdict, e4_markdown, e4_match
    base = {"cca": (0.249, 0.0), "emf": (0.26, 0.01), "imf": (0.27, 0.02), "dmf": (0.30, 0.01)}
    summary = {"P1": _res(base, {**base, "cca": (0.20, 0.0)}, n=5),
               "P0": _res({**base, "cca": (0.30, 0.01)}, {**base, "cca": (0.18, 0.01)}, n=3)}
    md = e4_markdown(summary, command="python -c ...")
    maps, deviations = tables(md)
    # mAP table: every cell is its protocol's and task's mean ± std, to the 4 decimals shown
    assert maps[0] == ["protocol", "task", "CCA", "EMF", "IMF", "DMF", "n"]
    assert [tuple(r[:2]) for r in maps[1:]] == [("P1", "I2T"), ("P1", "T2I"), ("P0", "I2T"), ("P0", "T2I")]
    for p, task, *cols, n in maps[1:]:
        for m, cell in zip(("cca", "emf", "imf", "dmf"), cols):
            want = summary[p][task.lower()][m]
            assert numbers(cell) == pytest.approx([want["mean"], want["std"]], abs=5e-5), (p, task, m)
        assert numbers(n) == [summary[p][task.lower()]["cca"]["n"]]
    # deviations from the paper's Table 2 (CCA 0.2490 / 0.1960, DMF 0.2921 / 0.5612): ours minus theirs,
    # "within" when the CCA is within 0.02 on both tasks
    paper = {"cca": (0.2490, 0.1960), "dmf": (0.2921, 0.5612)}
    for p, cca_i2t, cca_t2i, within, dmf_i2t, dmf_t2i in deviations[1:]:
        ours = {m: [summary[p][t][m]["mean"] for t in ("i2t", "t2i")] for m in paper}
        dev = {m: [o - q for o, q in zip(ours[m], paper[m])] for m in paper}
        assert numbers(cca_i2t) + numbers(cca_t2i) == pytest.approx(dev["cca"], abs=5e-5), p
        assert numbers(dmf_i2t) + numbers(dmf_t2i) == pytest.approx(dev["dmf"], abs=5e-5), p
        assert within == ("yes" if max(map(abs, dev["cca"])) <= 0.02 else "no"), p
    assert [r[3] for r in deviations[1:]] == ["yes", "no"]    # P0's CCA is 0.051 off on I2T
    # the rule lines are the rules' own texts; the command is quoted as a code block
    assert f"**Match (E4 rule):** {e4_match(summary)['text']}." in md.splitlines()
    assert f"**C4 (E4 rule):** {c4_verdict(summary)['text']}." in md.splitlines()
    assert "    python -c ..." in md.splitlines()
