"""`python -m dmf_np study report` on tiny E1, E2 and E3 runs: figures/study.json's shape, its verdicts, its figures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dmf_np.cli import main
from dmf_np.data.synthetic import fake_digits
from dmf_np.experiments import mnist as E
from dmf_np.experiments import study as S
from dmf_np.experiments import study_e2 as S2
from dmf_np.experiments import study_e3 as S3
from dmf_np.experiments import study_round1 as R1
from markdown_tables import numbers, tables

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = {"supported", "not supported", "reversed", "inconclusive"}


def _strict(text: str):
    """json.loads that refuses NaN and Infinity (not JSON; a browser's JSON.parse rejects them)."""
    def refuse(name):
        raise ValueError(f"{name} in study.json")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow  # three tiny experiments: about 20 s
def test_report_writes_study_json_verdicts_and_figures(tmp_path, capsys):
    mnist, tiny = fake_digits(), E.PRESETS["tiny"]
    e1 = S.E1Plan(preset=tiny, levels=(0, 50), seeds=(0, 1), lr_grid=(0.1,), edge_grid=(0.1,), stats_rows=100,
                  path_rows=50)
    R1.run_e1(mnist, tmp_path / "study-e1", e1, log=lambda _m: None)
    e2 = S2.E2Plan(preset=tiny, depths=(3,), seeds=(0, 1), lr_grid=(0.5,), momenta=(0.9,), epochs=2, init_rows=100,
                   path_rows=50, sizes=((3, (32, 16), (32, 16, 8)),))
    R1.run_e2(mnist, tmp_path / "study-e2", e2, log=lambda _m: None)
    e3 = S3.E3Plan(preset=tiny, seeds=(0, 1), lr_grid=(0.1,), edge_grid=(0.1,), stats_rows=100)
    R1.run_e3(mnist, tmp_path / "study-e3", e3, log=lambda _m: None)

    figures = tmp_path / "figures"
    code = main(["study", "report", "--runs", str(tmp_path), "--json", str(tmp_path / "study.json"),
                 "--figures", str(figures), "--markdown"])
    assert code == 0
    study = _strict((tmp_path / "study.json").read_text())
    # the shape: e1 -> variant -> damage -> model -> train_loss / test_error
    cell = study["e1"]["B"]["0"]["dmf"]
    assert len(cell["train_loss"]["mean"]) == tiny.finetune_epochs and cell["test_error"]["seeds"] == 2
    assert set(study["verdicts"]) == {"C1a", "C2", "C1b", "C1c", "C3"}
    assert set(study["verdicts"].values()) <= VERDICTS
    # two seeds where the rules ask for 5 (E1, E3): no verdict can be given
    assert study["verdicts"]["C1a"] == "inconclusive" and study["verdicts"]["C3"] == "inconclusive"
    assert study["pending"] == ["C4 (E4)"]
    assert study["command"] == f"python -m dmf_np study report --runs {tmp_path}"
    for name in ("study_e1_fig4.png", "study_e1_paths.png", "study_e2.png", "study_e2_paths.png", "study_e3.png"):
        assert (figures / name).stat().st_size > 10_000, name
    out = capsys.readouterr().out
    # --markdown prints E2's and E3's own tables, made from study.json's parts, and one line per verdict
    assert "### E2 tables\n\n" + S2.e2_markdown(study["e2"]) in out
    assert "### E3 tables\n\n" + S3.e3_markdown(study["e3"]) in out
    for claim, verdict in study["verdicts"].items():
        assert f"{claim}: {verdict} ({study['verdict_notes'][claim]})" in out.splitlines()
    # E1's tables: per damage level, each model's seeds, losses and errors as study.json holds them
    e1_tables = [t for t in tables(out) if t[0][:2] == ["model", "seeds"] and "rule vs IMF" in t[0]]
    assert len(e1_tables) == len(e1.levels)
    for level, table in zip(("0", "50"), e1_tables):
        rows = {r[0]: r for r in table[1:]}
        assert set(rows) == {"EMF", "IMF", "DMF-A", "DMF-B", "DMF-B'", "DMF-C"}
        for name, variant, model in (("IMF", "A", "imf"), ("DMF-B", "B", "dmf"), ("DMF-C", "C", "dmf")):
            cell, row = study["e1"][variant][level][model], rows[name]
            loss = cell["train_loss"]["mean"]
            assert numbers(row[1]) == [cell["test_error"]["seeds"]]
            assert numbers(row[2]) == [pytest.approx(loss[0], abs=5e-5)]
            assert numbers(row[5]) == [pytest.approx(loss[-1], abs=5e-6)]
            err = cell["test_error"]
            assert numbers(row[6]) == pytest.approx([err["mean"], err["std"]], abs=5e-3), (level, name)


def test_report_refuses_a_missing_run_directory(tmp_path, capsys):
    assert main(["study", "report", "--runs", str(tmp_path / "nothing")]) == 2
    assert "holds no study-e1 run directory" in capsys.readouterr().err


def test_study_report_on_the_committed_units_gives_figures_study_json_byte_for_byte(tmp_path):
    """``python -m dmf_np study report`` reads the committed tarballs and never re-tunes: the same bytes."""
    from dmf_np.cli import main

    assert main(["study", "report", "--json", str(tmp_path / "study.json")]) == 0
    assert (tmp_path / "study.json").read_bytes() == (ROOT / "figures" / "study.json").read_bytes()


def test_committed_runs_carry_todays_experiment_names(tmp_path):
    """scripts/migrate_units.py renamed the first round's config keys: the runs resume under today's code."""
    import tarfile

    from dmf_np.experiments import study as S1

    plans = {"e1": S1.E1Plan(), "e2": S2.E2Plan(), "e3": S3.E3Plan()}
    for e, plan in plans.items():
        with tarfile.open(ROOT / "results" / f"study-{e}-units.tar.gz") as tar:
            config = json.load(tar.extractfile(f"study-{e}/config.json"))
        assert config["protocol"]["experiment"] == plan.protocol()["experiment"] == f"study-{e}"
