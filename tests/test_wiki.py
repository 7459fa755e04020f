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
    from dmf_np.experiments.wiki_outputs import table2_json, table2_markdown

    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    data = load_wiki(_fake_wiki(data_dir, 2173, 693), verify_checksums=False)
    overrides = {"epochs": 1, "pretrain_epochs": 0,
                 "net_grid": [{"preprocessing": "minmax", "lr": 0.01}, {"preprocessing": "standardise", "lr": 0.002}],
                 "cca_grid": [{"preprocessing": "minmax", "reg": 0.1}, {"preprocessing": "standardise", "reg": 0.1}]}
    opts = _options(overrides, methods=("cca", "dmf"))
    m1 = W.run_table2(data, tmp_path / "run", opts)
    assert set(m1["reconstruct"]["i2t"]) == {"cca", "dmf"} and m1["reconstruct"]["i2t"]["dmf"]["splits"] == 1
    for task in ("i2t", "t2i"):  # random data: near chance (10 categories)
        assert 0.05 < m1["encode"][task]["cca"]["mean"] < 0.2
    results = sorted((tmp_path / "run" / "units").rglob("result.json"))
    stamps = {p: p.stat().st_mtime_ns for p in results}
    m2 = W.run_table2(data, tmp_path / "run", opts)  # resumed: every unit read back, nothing recomputed
    assert m2["reconstruct"] == m1["reconstruct"] and {p: p.stat().st_mtime_ns for p in results} == stamps
    assert W.run_table2(data, tmp_path / "run", opts, report_only=True) == m1  # the finished units, read back
    t = table2_json(m1)
    assert set(t["i2t"]["dmf"]) == {"mean", "std", "splits"} and t["protocol"] == W.DEFAULT_PROTOCOL
    json.dumps(t)
    _check_table2_markdown(table2_markdown(m1, "cmd"), m1, ("cca", "dmf"))
    with pytest.raises(ValueError, match="protocol"):  # another protocol in the same run directory
        W.run_table2(data, tmp_path / "run", _options(overrides, methods=("cca", "dmf"), splits=2))


def _options(overrides: dict, splits: int = 1, **kw):
    """Table 2 options on the quick preset with ``overrides``, no progress output."""
    from dmf_np.experiments import wiki as W
    return W.Options(W.with_overrides(W.PRESETS["quick"], overrides, splits=splits), show_progress=False, **kw)


def _one_error_line(capsys, argv: list) -> str:
    """Run ``python -m dmf_np reproduce table2 ...``: it fails (status 2) with one line, no traceback."""
    from dmf_np import cli
    assert cli.main(["reproduce", "table2", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_cli_checks_every_option_before_creating_anything(capsys, monkeypatch, tmp_path):
    """Each bad option is one line naming it, and no run directory is made (the Wiki files included:
    they are loaded before the run directory is created)."""
    monkeypatch.delenv("DMF_WIKI_DIR", raising=False)
    monkeypatch.delenv("DMF_BACKEND", raising=False)
    out = tmp_path / "run"
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert "--wiki-dir" in _one_error_line(capsys, ["--wiki-dir", ""])
    assert "--wiki-dir" in _one_error_line(capsys, ["--out", str(out)])  # neither the option nor $DMF_WIKI_DIR
    assert "is a file, not a directory" in _one_error_line(capsys, ["--wiki-dir", str(a_file)])
    assert "does not exist" in _one_error_line(capsys, ["--wiki-dir", str(tmp_path / "nowhere")])
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    for bad, name in ((["--methods", "cca,svm"], "--methods"), (["--seed", "-5"], "--seed"),
                      (["--splits", "0"], "--splits"), (["--jobs", "x"], "--jobs"),
                      (["--scheduler", "foo:bar"], "--scheduler"), (["--figures", str(a_file)], "--figures"),
                      (["--out", str(a_file)], "--out")):
        assert name in _one_error_line(capsys, ["--wiki-dir", str(wiki), "--out", str(out), *bad]), bad
    assert "lacks raw_features.mat" in _one_error_line(capsys, ["--wiki-dir", str(wiki), "--out", str(out)])
    monkeypatch.setenv("DMF_BACKEND", "nosuchbackend")  # $DMF_BACKEND is honoured, and checked first
    assert "nosuchbackend" in _one_error_line(capsys, ["--wiki-dir", str(wiki), "--out", str(out)])
    assert not out.exists()


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
    model = W.fit_method("cca", W.CcaConfig("standardise", 0.1), None, d.image[100:], d.text[100:], 0, np)
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
    preset = W.with_overrides(W.PRESETS["quick"], {"pretrain_epochs": 0, "modality_sizes": ((6, 8), (4, 8)),
                                                   "shared_sizes": (8, 5)})
    model = W.fit_method("dmf", W.NetConfig("standardise", 0.01, 1), preset, d.image, d.text, 0, np)
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
    from dmf_np.experiments.wiki_outputs import criterion_view, figure_name, table2_json, table2_markdown

    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    data = load_wiki(_fake_wiki(data_dir, 2173, 693), verify_checksums=False)
    overrides = {"epochs": 1, "pretrain_epochs": 0,
                 "net_grid": [{"preprocessing": "standardise", "lr": 0.002}],
                 "cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.1, 1.0)]}
    kw = dict(methods=("cca", "imf"), items="paired", explore=True)
    m1 = W.run_table2(data, tmp_path / "run", _options(overrides, **kw))
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
    t = table2_json(m1)
    assert set(t["i2t"]["cca"]) == {"mean", "std", "splits"} and t["items"] == "paired"
    json.dumps(t)
    md = table2_markdown(m1, "cmd")
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
    view = criterion_view(m1, "single", "cosine")
    assert view["items"] == "single" and view["reconstruct"] == m1["criteria"]["single/cosine"]["reconstruct"]
    # the same run directory, another reading as the main one: tuning read back, its finals added
    m2 = W.run_table2(data, tmp_path / "run", _options(overrides, **{**kw, "items": "single", "ranking": "euclidean"}))
    assert m2["reconstruct"] == m2["criteria"]["single/euclidean"]["reconstruct"]
    assert m2["criteria"]["single/cosine"]["reconstruct"] == m1["criteria"]["single/cosine"]["reconstruct"]
    assert all(m2["criteria"][k]["validation"] == m1["criteria"][k]["validation"] for k in m1["criteria"])
    assert figure_name("paired", "cosine") == "table2_paired" and figure_name("single", "cosine") == "table2"
    with pytest.raises(ValueError, match="unknown items"):
        _options(overrides, **{**kw, "items": "both"})
    with pytest.raises(ValueError, match="did not test single/cosine-raw"):
        criterion_view(m1, "single", "cosine-raw")


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


RUNNER_KEYS = ("schema", "fingerprint", "spec", "path", "diverged")


def _as_before_the_runner_and_the_readings(run: Path, lost: str) -> None:
    """Rewrite a one-split CCA run in the oldest layout: no unit fingerprints (no unit.json, no runner keys
    in result.json), no readings (tuning without variants, one unit 'final' with 'test', no criteria in
    the protocol); tuning unit ``lost`` as a divergence was recorded then (-inf scores)."""
    from dmf_np.experiments import wiki as W

    config = json.loads((run / "config.json").read_text())
    del config["protocol"]["criteria"]
    config["protocol"]["distance"] = W.RANKINGS["cosine"]
    (run / "config.json").write_text(json.dumps(config))
    method = run / "units" / "split0" / "cca"
    for unit in method.iterdir():
        (unit / "unit.json").unlink()
        res = {k: v for k, v in json.loads((unit / "result.json").read_text()).items() if k not in RUNNER_KEYS}
        if unit.name.startswith("tune"):
            del res["variants"]
            if unit.name == lost:
                res["validation"] = {p: {"i2t": float("-inf"), "t2i": float("-inf")} for p in W.PROTOCOLS}
        else:
            res["test"] = res.pop("test_variants")["single"]["cosine"]
        (unit / "result.json").write_text(json.dumps(res))
    (final,) = method.glob("final*")
    final.rename(method / "final")


@pytest.mark.slow
def test_migration_scripts_let_an_old_run_directory_resume(tmp_path, script):
    """A run directory of before the readings (scripts/migrate_table2_run.py) and before unit fingerprints
    (scripts/migrate_wiki_units.py, a diverged tuning unit included) resumes after both migrations with the
    same numbers, recomputing nothing."""
    from dmf_np.experiments import wiki as W

    migrate_layout, migrate_units = script("migrate_table2_run").migrate, script("migrate_wiki_units").migrate
    data_dir = tmp_path / "wiki"
    data_dir.mkdir()
    data = load_wiki(_fake_wiki(data_dir, 2173, 693), verify_checksums=False)
    opts = _options({"cca_grid": [{"preprocessing": "standardise", "reg": r} for r in (0.1, 1.0)]}, methods=("cca",))
    run = tmp_path / "run"
    m1 = W.run_table2(data, run, opts)
    lost = "tune0" if m1["chosen"]["cca"][0] == opts.preset.cca_grid[1].as_dict() else "tune1"  # not the chosen one
    _as_before_the_runner_and_the_readings(run, lost)
    with pytest.raises(ValueError, match="protocol"):  # the old layout is refused, not misread
        W.run_table2(data, run, opts)
    assert migrate_layout(run) and not migrate_layout(run)  # the second time: already current
    assert migrate_units(run, data) == 3 and migrate_units(run, data) == 0
    diverged = json.loads((run / "units" / "split0" / "cca" / lost / "result.json").read_text())
    assert diverged["diverged"] and "variants" not in diverged  # the runner's divergence record
    before = {p: p.read_text() for p in run.rglob("result.json")}
    m2 = W.run_table2(data, run, opts)
    assert m2["reconstruct"] == m1["reconstruct"] and m2["encode"] == m1["encode"] and m2["chosen"] == m1["chosen"]
    assert {p: p.read_text() for p in run.rglob("result.json")} == before  # nothing recomputed


def test_units_are_tied_to_their_data(tmp_path):
    """Every unit's fingerprint holds the data's checksum: the same options on other data (same shape, same
    config.json) recompute every unit, say so, and keep the old files in stale/."""
    from dmf_np.experiments import wiki as W

    opts = _options({"cca_grid": [{"preprocessing": "standardise", "reg": 0.1}]}, methods=("cca",))
    first, second = (load_wiki(_fake_wiki(_mkdir(tmp_path / f"wiki{s}"), 2173, 693, seed=s), verify_checksums=False)
                     for s in (0, 1))
    W.run_table2(first, tmp_path / "run", opts)
    lines = []
    m = W.run_table2(second, tmp_path / "run", opts, log=lines.append)
    assert [x.split(":")[0] for x in lines if x.startswith("recomputing")] == ["recomputing split0/cca/tune0",
                                                                                "recomputing split0/cca/final0"]
    assert len(list((tmp_path / "run" / "stale").rglob("result.json"))) == 2
    assert m == W.run_table2(second, tmp_path / "run2", opts)  # the same numbers as a fresh run on that data


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


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
