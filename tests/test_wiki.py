"""The Wiki loader (real data where present, else skipped) and the Table 2 pipeline on fake data."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dmf_np.data.wiki import FILES, N_PAIRS, WikiDataError, load_wiki, query_split

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
    assert "| I2T |" in W.table2_markdown(m1, "cmd")
    with pytest.raises(ValueError, match="protocol"):  # another protocol in the same run directory
        W.run_table2(data_dir, tmp_path / "run", **{**kw, "splits": 2})


def test_cli_needs_a_wiki_dir(capsys, monkeypatch):
    from dmf_np.experiments import wiki as W
    monkeypatch.delenv("DMF_WIKI_DIR", raising=False)
    assert W.main(["table2", "--wiki-dir", ""]) == 2
    assert "--wiki-dir" in capsys.readouterr().err
