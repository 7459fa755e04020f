"""The Wiki loader (real data where present, else skipped) and the Table 2 pipeline on fake data."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dmf_np.data.wiki import FILES, N_PAIRS, WikiDataError, load_wiki, query_split
from markdown_tables import numbers, tables

WIKI_DIR = Path(os.environ.get("DMF_WIKI_DIR", "/work/shared/data/wiki"))
needs_wiki = pytest.mark.skipif(not all((WIKI_DIR / f).is_file() for f in FILES),
                                reason=f"Wiki features not found in {WIKI_DIR} (set $DMF_WIKI_DIR to the folder "
                                       "holding raw_features.mat and the .list files)")


@needs_wiki
def test_real_wiki_loads_and_verifies():
    w = load_wiki(WIKI_DIR)
    assert len(w) == N_PAIRS and w.image.shape == (N_PAIRS, 128) and w.text.shape == (N_PAIRS, 10)
    assert w.is_original_train.sum() == 2173
    assert sorted(set(w.labels.tolist())) == list(range(10)) and len(w.categories) == 10
    np.testing.assert_allclose(w.image.sum(1), 1.0, atol=1e-3)


def _fake_wiki(d: Path, n_tr=20, n_te=8, seed=0):
    from scipy.io import savemat
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 11, n_tr + n_te)

    def hist(k, n):
        a = rng.uniform(0, 1, (n, k))
        return a / a.sum(1, keepdims=True)
    savemat(d / "raw_features.mat", {"I_tr": hist(128, n_tr), "I_te": hist(128, n_te),
                                     "T_tr": hist(10, n_tr), "T_te": hist(10, n_te)})
    for name, rows in (("trainset_txt_img_cat.list", range(n_tr)),
                       ("testset_txt_img_cat.list", range(n_tr, n_tr + n_te))):
        (d / name).write_text("".join(f"t{i}\ti{i}\t{labels[i]}\n" for i in rows))
    (d / "categories.list").write_text("".join(f"c{k}\n" for k in range(10)))
    return d


def test_loader_errors_name_the_problem(tmp_path):
    with pytest.raises(WikiDataError, match="does not exist"):
        load_wiki(tmp_path / "nowhere")
    with pytest.raises(WikiDataError, match="lacks raw_features.mat"):
        load_wiki(tmp_path)
    _fake_wiki(tmp_path)
    with pytest.raises(WikiDataError, match="sha256"):
        load_wiki(tmp_path)
    with pytest.raises(WikiDataError, match="expected image 2866x128"):  # checked even without checksums
        load_wiki(tmp_path, verify_checksums=False)
    (tmp_path / "testset_txt_img_cat.list").write_text("t0\ti0\t11\n" * 8)
    with pytest.raises(WikiDataError, match="categories must lie in 1..10"):
        load_wiki(tmp_path, verify_checksums=False)


def test_query_split_is_seeded_disjoint_and_complete():
    q, r = query_split(N_PAIRS, 0.25, 3)
    assert len(q) == round(0.25 * N_PAIRS) and len(set(q) & set(r)) == 0 and len(q) + len(r) == N_PAIRS
    q2, _ = query_split(N_PAIRS, 0.25, 3)
    q3, _ = query_split(N_PAIRS, 0.25, 4)
    assert (q == q2).all() and not (q == q3).all()


def _check_table2_markdown(md: str, metrics: dict, methods: tuple) -> list:
    """table2_markdown's tables hold the run's numbers: per protocol and task each method's mean +- std
    over splits, then the paper's Table 2 as printed in the paper. Returns the tables after those."""
    from dmf_np.experiments import wiki as W

    shown = tables(md)
    for protocol, table in zip(W.PROTOCOLS, shown):
        assert table[0] == ["mAP"] + [m.upper() for m in methods]
        assert [r[0] for r in table[1:]] == ["I2T", "T2I"]
        for task, *cells in table[1:]:
            for m, cell in zip(methods, cells):
                want = metrics[protocol][task.lower()][m]
                assert numbers(cell) == pytest.approx([want["mean"], want["std"]], abs=5e-5), (protocol, task, m)
    paper = shown[len(W.PROTOCOLS)]
    assert paper == [["mAP", "CCA", "CMFH", "LCFS", "Corr-Full-AE", "DMF"],
                     ["I2T", "0.2490", "0.2551", "0.2798", "0.2634", "0.2921"],
                     ["T2I", "0.1960", "0.5407", "0.2141", "0.5418", "0.5612"]]
    rest = shown[len(W.PROTOCOLS) + 1:]
    return rest[0] if rest else []


@pytest.mark.slow
def test_table2_pipeline_on_fake_full_size_data(tmp_path, monkeypatch):
    """The whole protocol end to end on random data of Wiki's shape: files, resume, JSON layout."""
    from dmf_np.experiments import wiki as W

    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    _fake_wiki(data_dir, 2173, 693)
    overrides = {"epochs": 1, "pretrain_epochs": 0,
                 "net_grid": [{"preprocessing": "minmax", "lr": 0.01}, {"preprocessing": "standardise", "lr": 0.002}],
                 "cca_grid": [{"preprocessing": "minmax", "reg": 0.1}, {"preprocessing": "standardise", "reg": 0.1}]}
    kw = dict(preset="quick", splits=1, methods=("cca", "dmf"), overrides=overrides, verify_checksums=False,
              show_progress=False)
    m1 = W.run_table2(data_dir, tmp_path / "run", **kw)
    assert set(m1["reconstruct"]["i2t"]) == {"cca", "dmf"} and m1["reconstruct"]["i2t"]["dmf"]["splits"] == 1
    for task in ("i2t", "t2i"):  # random data: near chance (10 categories)
        assert 0.05 < m1["encode"][task]["cca"]["mean"] < 0.2
    m2 = W.run_table2(data_dir, tmp_path / "run", **kw)  # resumed: every unit read back, nothing recomputed
    assert m2["reconstruct"] == m1["reconstruct"]
    t = W.table2_json(m1)
    assert set(t["i2t"]["dmf"]) == {"mean", "std", "splits"} and t["protocol"] == W.DEFAULT_PROTOCOL
    json.dumps(t)
    _check_table2_markdown(W.table2_markdown(m1, "cmd"), m1, ("cca", "dmf"))
    with pytest.raises(ValueError, match="protocol"):  # another protocol in the same run directory
        W.run_table2(data_dir, tmp_path / "run", **{**kw, "splits": 2})


def test_cli_needs_a_wiki_dir(capsys, monkeypatch):
    from dmf_np.commands import reproduce_table2
    monkeypatch.delenv("DMF_WIKI_DIR", raising=False)
    assert reproduce_table2.main(["--wiki-dir", ""]) == 2
    assert "--wiki-dir" in capsys.readouterr().err


def _informative_text_data(n=400, seed=0):
    """Pairs whose text reveals the category and whose image is pure noise."""
    from types import SimpleNamespace
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    text = np.eye(4)[labels] * 3.0 + 0.3 * rng.standard_normal((n, 4))
    image = rng.standard_normal((n, 6))
    return SimpleNamespace(image=image, text=text, labels=labels)


def test_paired_items_see_the_other_modality():
    """Items 'paired' carry both modalities: a text query then finds items by their text, which the
    'single' reading (items seen through their image only) cannot. CCA paired item = mean of projections."""
    from dmf_np.cca import cca_transform_x, cca_transform_y
    from dmf_np.experiments import wiki as W

    d = _informative_text_data()
    model = W.fit_method("cca", {"preprocessing": "standardise", "reg": 0.1}, {}, d.image[100:], d.text[100:], 0, np)
    x, y = W.apply_preprocessing(model["pre"], d.image[:5], d.text[:5])
    np.testing.assert_allclose(W.represent_pairs(model, d.image[:5], d.text[:5], np),
                               0.5 * (cca_transform_x(model["model"], x, 1.0)
                                      + cca_transform_y(model["model"], y, 1.0)),
                               rtol=1e-4, atol=1e-6)
    q, r = np.arange(100), np.arange(100, 400)
    res = W.evaluate_all(model, d, q, r, np)
    assert set(res) == set(W.ITEMS) and set(res["single"]) == set(W.RANKINGS)
    assert res["single"]["cosine"] == W.evaluate(model, d, q, r, np)  # the default reading, unchanged
    single, paired = res["single"]["cosine"]["encode"], res["paired"]["cosine"]["encode"]
    assert single["t2i"] < 0.4 < 0.8 < paired["t2i"]  # chance is about 0.25


def test_paired_items_for_a_network_encode_both_modalities():
    from dmf_np.experiments import wiki as W
    from dmf_np.generative import encode

    d = _informative_text_data(60)
    settings = {**W.PRESETS["quick"], "pretrain_epochs": 0, "modality_sizes": ((6, 8), (4, 8)), "shared_sizes": (8, 5)}
    model = W.fit_method("dmf", {"preprocessing": "standardise", "lr": 0.01, "epochs": 1}, settings,
                         d.image, d.text, 0, np)
    x, y = (a.astype(np.float32) for a in W.apply_preprocessing(model["pre"], d.image, d.text))
    joint = W.represent_pairs(model, d.image, d.text, np)
    np.testing.assert_allclose(joint, encode(model["params"], [x, y], model["arch"]), rtol=1e-6)
    assert joint.shape == (60, 5)
    assert not np.allclose(joint, encode(model["params"], [x, y], model["arch"], [True, False]))
    with pytest.raises(ValueError, match="unknown ranking"):
        W.ranking_map(joint, joint, d.labels, d.labels, "manhattan", None)


@pytest.mark.slow
def test_paired_exploring_run_on_fake_data(tmp_path):
    """items='paired' with every reading explored: own choice per reading, JSON shape, resume, errors."""
    from dmf_np.experiments import wiki as W

    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    _fake_wiki(data_dir, 2173, 693)
    overrides = {"epochs": 1, "pretrain_epochs": 0,
                 "net_grid": [{"preprocessing": "standardise", "lr": 0.002}],
                 "cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.1, 1.0)]}
    kw = dict(preset="quick", splits=1, methods=("cca", "imf"), overrides=overrides, verify_checksums=False,
              show_progress=False, items="paired", explore=True)
    m1 = W.run_table2(data_dir, tmp_path / "run", **kw)
    assert m1["items"] == "paired" and len(m1["criteria"]) == len(W.ITEMS) * len(W.RANKINGS)
    assert m1["reconstruct"] == {k: v for k, v in m1["criteria"]["paired/cosine"]["reconstruct"].items()}
    for key, agg in m1["criteria"].items():  # test numbers only for the main and the default reading
        assert ("reconstruct" in agg) == (key in ("paired/cosine", "single/cosine"))
        for method in ("cca", "imf"):
            assert set(agg["validation"][method]) == {"i2t", "t2i"}
            if "reconstruct" in agg:
                assert 0.0 < agg["reconstruct"]["t2i"][method]["mean"] < 1.0
    units = sorted(p.name for p in (tmp_path / "run" / "units" / "split0" / "cca").iterdir())
    assert "final" not in units and any(u.startswith("final") for u in units)
    t = W.table2_json(m1)
    assert set(t["i2t"]["cca"]) == {"mean", "std", "splits"} and t["items"] == "paired"
    json.dumps(t)
    md = W.table2_markdown(m1, "cmd")
    assert "NOT the default task" in md.splitlines()[0]
    readings = _check_table2_markdown(md, m1, ("cca", "imf"))
    # every reading, each task: the validation mAP of the configuration it chose, and the test mAP where
    # it was computed (the main and the default reading), "(validation only)" elsewhere
    assert [tuple(r[:2]) for r in readings[1:]] == [(k, t.upper()) for k in m1["criteria"] for t in ("i2t", "t2i")]
    for key, task, cca_val, cca_test, imf_val, imf_test in readings[1:]:
        agg, t = m1["criteria"][key], task.lower()
        for m, val, test in (("cca", cca_val, cca_test), ("imf", imf_val, imf_test)):
            assert numbers(val) == [pytest.approx(agg["validation"][m][t], abs=5e-5)], (key, task, m)
            if "reconstruct" in agg:
                want = agg["reconstruct"][t][m]
                assert numbers(test) == pytest.approx([want["mean"], want["std"]], abs=5e-5), (key, task, m)
            else:
                assert test == "(validation only)", (key, task, m)
    view = W.criterion_view(m1, "single", "cosine")
    assert view["items"] == "single" and view["reconstruct"] == m1["criteria"]["single/cosine"]["reconstruct"]
    # the same run directory, another reading as the main one: tuning read back, its finals added
    m2 = W.run_table2(data_dir, tmp_path / "run", **{**kw, "items": "single", "ranking": "euclidean"})
    assert m2["reconstruct"] == m2["criteria"]["single/euclidean"]["reconstruct"]
    assert m2["criteria"]["single/cosine"]["reconstruct"] == m1["criteria"]["single/cosine"]["reconstruct"]
    assert all(m2["criteria"][k]["validation"] == m1["criteria"][k]["validation"] for k in m1["criteria"])
    assert W.figure_name("paired", "cosine") == "table2_paired" and W.figure_name("single", "cosine") == "table2"
    with pytest.raises(ValueError, match="unknown items"):
        W.run_table2(data_dir, tmp_path / "run2", **{**kw, "items": "both"})
    with pytest.raises(ValueError, match="did not test single/cosine-raw"):
        W.criterion_view(m1, "single", "cosine-raw")


@pytest.mark.slow
def test_unimodal_reference_script_on_fake_data(tmp_path, monkeypatch, capsys, script):
    """scripts/wiki_unimodal.py: within-modality mAP and classifier accuracy, per split."""
    script = script("wiki_unimodal")
    d = tmp_path / "wiki"
    d.mkdir()
    _fake_wiki(d, 2173, 693)
    scores = script.unimodal_scores(load_wiki(d, verify_checksums=False), splits=2, seed=0)
    for name in ("image", "text"):  # random features: near chance (10 categories)
        assert len(scores[name]["map"]) == 2 and all(0.05 < m < 0.2 for m in scores[name]["map"])
        assert all(0 <= a < 30 for a in scores[name]["accuracy"])
    monkeypatch.delenv("DMF_WIKI_DIR", raising=False)
    assert script.main([]) == 2 and "--wiki-dir" in capsys.readouterr().err
    assert script.main(["--wiki-dir", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_migration_script_lets_an_old_run_directory_resume(tmp_path, script):
    """scripts/migrate_table2_run.py: a run in the layout of before the readings (units 'final', no
    variants) resumes after migration with the same numbers, recomputing nothing."""
    from dmf_np.experiments import wiki as W

    migrate = script("migrate_table2_run").migrate
    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    _fake_wiki(data_dir, 2173, 693)
    kw = dict(preset="quick", splits=1, methods=("cca",), verify_checksums=False, show_progress=False,
              overrides={"cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.1, 1.0)]})
    run = tmp_path / "run"
    m1 = W.run_table2(data_dir, run, **kw)
    # write it back in the old layout
    config = json.loads((run / "config.json").read_text())
    del config["protocol"]["criteria"]
    config["protocol"]["distance"] = W.RANKINGS["cosine"]
    (run / "config.json").write_text(json.dumps(config))
    method = run / "units" / "split0" / "cca"
    for tune in method.glob("tune*/result.json"):
        res = json.loads(tune.read_text())
        del res["variants"]
        tune.write_text(json.dumps(res))
    (final,) = method.glob("final*")
    res = json.loads((final / "result.json").read_text())
    res["test"] = res.pop("test_variants")["single"]["cosine"]
    (final / "result.json").write_text(json.dumps(res))
    final.rename(method / "final")
    with pytest.raises(ValueError, match="protocol"):  # the old layout is refused, not misread
        W.run_table2(data_dir, run, **kw)
    assert migrate(run) and not migrate(run)  # the second time: already current
    before = {p: p.read_text() for p in run.rglob("result.json")}
    m2 = W.run_table2(data_dir, run, **kw)
    assert m2["reconstruct"] == m1["reconstruct"] and m2["encode"] == m1["encode"]
    assert {p: p.read_text() for p in run.rglob("result.json")} == before  # nothing recomputed


def test_ranking_maps_scores_each_ranking_once_with_the_same_numbers():
    """ranking_maps ranks once per distinct ranking and scores every cut of it: the same mAPs as
    ranking each reading on its own with retrieval_map."""
    from dmf_np.experiments import wiki as W
    from dmf_np.retrieval import retrieval_map
    rng = np.random.default_rng(3)
    q, it = rng.normal(size=(40, 6)), rng.normal(size=(90, 6))
    ql, il = rng.integers(0, 4, 40), rng.integers(0, 4, 90)
    qmean = q.mean(axis=0)
    want = {"cosine": retrieval_map(q, it, ql, il, "cosine"),
            "cosine@10": retrieval_map(q, it, ql, il, "cosine", top=10),
            "cosine-modality": retrieval_map(q, it, ql, il, "cosine", query_centre=qmean),
            "cosine-raw@5": retrieval_map(q, it, ql, il, "cosine", centre=np.zeros(6), top=5),
            "euclidean": retrieval_map(q, it, ql, il, "euclidean")}
    got = W.ranking_maps(q, it, ql, il, list(want), qmean)
    assert list(got) == list(want)
    for r in want:
        assert got[r] == want[r], r
        assert W.ranking_map(q, it, ql, il, r, qmean) == want[r], r
