"""Bad calls, tried as a new user would make them: each raises ValueError or TypeError whose message
names the problem (never a raw IndexError, KeyError, matmul error or a silently wrong loss), and each
bad command line exits non-zero with one ``error: ...`` line and no traceback.

One table per entry point; a case is (id, the bad call, what its message must say).
"""
import json

import numpy as np
import pytest

from dmf_np import backend
from dmf_np.backprop import loss_and_grads
from dmf_np.cli import main
from dmf_np.fusion import Architecture, forward, init_params
from dmf_np.train import fit_classifier

ARCH = Architecture("dmf", ((6, 5, 4), (7, 5, 4)), (8, 6, 5), n_classes=3)
N = 4


def good():
    """(params, xs, labels): a valid call of ``loss_and_grads(params, xs, labels, ARCH)``."""
    rng = np.random.default_rng(0)
    params = init_params(ARCH, rng, xp=np)
    xs = [rng.random((N, 6), dtype=np.float32), rng.random((N, 7), dtype=np.float32)]
    return params, xs, np.array([0, 1, 2, 1])


def with_param(key, value):
    params, xs, y = good()
    params[key] = value
    return params, xs, y


def without_param(key):
    params, xs, y = good()
    del params[key]
    return params, xs, y


def with_inputs(change):
    params, xs, y = good()
    return params, change(xs), y


def with_labels(labels):
    params, xs, _ = good()
    return params, xs, labels


def nan_input(xs):
    xs[1][2, 3] = np.nan
    return xs


# (id, (params, xs, labels), message pattern)
LOSS_CASES = [
    ("inputs-one-array", with_inputs(lambda xs: np.hstack(xs)), "list of 2 arrays"),
    ("inputs-one-modality", with_inputs(lambda xs: xs[:1]), r"expected 2 modalities \(x, y\), got 1"),
    ("inputs-three-modalities", with_inputs(lambda xs: xs + xs[:1]), "expected 2 modalities"),
    ("inputs-uint8-pixels", with_inputs(lambda xs: [(x * 255).astype(np.uint8) for x in xs]),
     r"floating-point .* got dtype uint8"),
    ("inputs-python-lists", with_inputs(lambda xs: [x.tolist() for x in xs]),
     "must be a NumPy or CuPy array, got list"),
    ("inputs-nan", with_inputs(nan_input), r"modality 'y' .* 1 NaN or infinite"),
    ("inputs-inf", with_inputs(lambda xs: [xs[0], np.full_like(xs[1], np.inf)]), "NaN or infinite"),
    ("inputs-1d", with_inputs(lambda xs: [xs[0][0], xs[1][0]]), r"must be 2-D, got shape \(6,\)"),
    ("inputs-wrong-feature-count", with_inputs(lambda xs: [xs[1], xs[0]]), r"must have 6 features per row"),
    ("inputs-batch-sizes-differ", with_inputs(lambda xs: [xs[0], xs[1][:3]]), "batch sizes differ"),
    ("inputs-mixed-dtypes", with_inputs(lambda xs: [xs[0], xs[1].astype(np.float64)]), "share one dtype"),
    ("inputs-empty-batch", with_inputs(lambda xs: [x[:0] for x in xs]), "0 rows"),
    ("labels-negative", with_labels(np.array([0, 1, -1, 1])), r"\[0, 3\).*labels\[2\] = -1"),
    ("labels-too-large", with_labels(np.array([0, 3, 2, 1])), r"\[0, 3\).*labels\[1\] = 3"),
    ("labels-float", with_labels(np.array([0.0, 1.0, 2.0, 1.0])), "integer class indices .* float64"),
    ("labels-bool", with_labels(np.array([True, False, True, False])), "integer class indices .* bool"),
    ("labels-column", with_labels(np.array([[0], [1], [2], [1]])), r"1-D.*got shape \(4, 1\).*ravel"),
    ("labels-one-hot", with_labels(np.eye(3, dtype=np.int64)[[0, 1, 2, 1]]), r"1-D.*one-hot.*argmax"),
    ("labels-too-few", with_labels(np.array([0, 1, 2])), r"shape \(4,\), one per example .* got 3"),
    ("labels-python-list", with_labels([0, 1, 2, 1]), r"integer array, got list.*numpy.asarray"),
    ("labels-none", with_labels(None), "integer array, got NoneType"),
    ("params-not-a-dict", (list(good()[0].values()), good()[1], good()[2]), "params must be a dict"),
    ("params-missing-key", without_param("W^{y->s}_2"), r"missing W\^\{y->s\}_2 \(6, 5\)"),
    ("params-missing-classifier", without_param("W^out"), r"missing W\^out \(3, 5\)"),
    ("params-extra-key", with_param("W^z_1", np.zeros((2, 2), np.float32)), r"unexpected \['W\^z_1'\]"),
    ("params-wrong-shape", with_param("W^x_1", np.zeros((5, 5), np.float32)),
     r"W\^x_1 must have shape \(5, 6\), got \(5, 5\)"),
    ("params-transposed", with_param("W^x_1", np.zeros((6, 5), np.float32)), r"\(5, 6\).*transposed"),
    ("params-bias-2d", with_param("b^s_3", np.zeros((1, 5), np.float32)), r"b\^s_3 must have shape \(5,\)"),
    ("params-other-dtype", with_param("W^s_1", np.zeros((6, 8), np.float64)), r"one dtype.*float64.*W\^s_1"),
    ("params-integer", with_param("b^out", np.zeros(3, np.int64)), r"b\^out must be a floating-point"),
    ("params-python-list", with_param("b^out", [0.0, 0.0, 0.0]), r"b\^out must be a NumPy or CuPy array"),
]


@pytest.mark.parametrize("call, match", [c[1:] for c in LOSS_CASES], ids=[c[0] for c in LOSS_CASES])
def test_loss_and_grads_names_the_problem(call, match):
    params, xs, labels = call
    with pytest.raises((ValueError, TypeError), match=match):
        loss_and_grads(params, xs, labels, ARCH)


# forward reads the encoder's keys only (a generative model's params also hold its decoder's)
FORWARD_CASES = [c for c in LOSS_CASES if c[0].startswith(("inputs", "params")) and c[0] != "params-extra-key"]


@pytest.mark.parametrize("call, match", [c[1:] for c in FORWARD_CASES], ids=[c[0] for c in FORWARD_CASES])
def test_forward_names_the_problem(call, match):
    params, xs, _ = call
    with pytest.raises((ValueError, TypeError), match=match):
        forward(params, xs, ARCH)


@pytest.mark.parametrize("call, match", [c[1:] for c in LOSS_CASES], ids=[c[0] for c in LOSS_CASES])
def test_fit_classifier_names_the_problem(call, match):
    params, xs, labels = call
    with pytest.raises((ValueError, TypeError), match=match):
        fit_classifier(params, ARCH, xs, labels, epochs=1, batch_size=2, show_progress=False)


def test_fit_classifier_bad_loop_settings():
    params, xs, y = good()
    for kwargs in (dict(epochs=-1), dict(epochs=1, batch_size=0)):
        with pytest.raises(ValueError, match="epochs >= 0 and batch_size >= 1"):
            fit_classifier(params, ARCH, xs, y, show_progress=False, **kwargs)


def test_negative_label_is_not_wrapped_to_the_last_class():
    """The bug this file began with: -1 indexed the last class and gave a finite, wrong loss."""
    params, xs, _ = good()
    with pytest.raises(ValueError):
        loss_and_grads(params, xs, np.array([0, 1, -1, 1]), ARCH)
    labels = np.array([0, 1, 2, 1])
    loss, _ = loss_and_grads(params, xs, labels, ARCH)  # the valid twin still works, and gives
    z = forward(params, xs, ARCH).logits.astype(np.float64)  # the mean of -log softmax(z)[y]
    log_p = z - (z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)))[:, None]
    assert float(loss) == pytest.approx(-log_p[np.arange(len(labels)), labels].mean(), rel=1e-6)


GOOD_ARCH = dict(scheme="dmf", modality_sizes=((6, 5), (7, 5)), shared_sizes=(8, 6), n_classes=3)
ARCH_CASES = [
    ("unknown-scheme", dict(scheme="dfm"), r"unknown fusion scheme 'dfm'.*emf"),
    ("one-modality", dict(modality_sizes=((6, 5),)), "at least 2 modalities, got 1"),
    ("mismatched-depths", dict(modality_sizes=((6, 5), (7,))), r"modality 1 has 1 layers but there are 2 shared"),
    ("flat-modality-sizes", dict(modality_sizes=(6, 7)), r"one tuple of layer sizes per modality"),
    ("zero-size", dict(modality_sizes=((6, 0), (7, 5))),
     r"modality #0's sizes must be positive integers, got \(6, 0\)"),
    ("negative-shared-size", dict(shared_sizes=(8, -6)), r"shared_sizes must be positive integers"),
    ("fractional-size", dict(shared_sizes=(8, 5.5)), r"shared_sizes must be positive integers, got \(8, 5.5\)"),
    ("string-size", dict(shared_sizes=(8, "6")), r"shared_sizes must be positive integers"),
    ("shared-sizes-an-int", dict(shared_sizes=8), r"shared_sizes must be a tuple of layer sizes, got 8"),
    ("no-shared-layer", dict(modality_sizes=((), ()), shared_sizes=()), "at least one shared layer"),
    ("one-class", dict(n_classes=1), r"n_classes must be an integer >= 2 or None, got 1"),
    ("fractional-classes", dict(n_classes=2.5), "n_classes must be an integer"),
    ("duplicate-names", dict(names=("a", "a")), r"distinct .* got \('a', 'a'\)"),
    ("name-s", dict(names=("x", "s")), "other than 's'"),
    ("name-with-symbols", dict(names=("x", "y^2")), "alphanumeric"),
    ("too-few-names", dict(names=("x",)), "must be 2 distinct"),
    ("names-an-int", dict(names=5), r"names must be a tuple of 2 modality names"),
    ("fan-in-norm-a-string", dict(fan_in_norm="yes"), r"fan_in_norm must be True or False, got 'yes'"),
    ("fan-in-norm-an-int", dict(fan_in_norm=1), r"fan_in_norm must be True or False, got 1"),
]


@pytest.mark.parametrize("change, match", [c[1:] for c in ARCH_CASES], ids=[c[0] for c in ARCH_CASES])
def test_architecture_names_the_problem(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Architecture(**{**GOOD_ARCH, **change})


# --- the command line -------------------------------------------------------------------------------

def cli_error(capsys, argv) -> str:
    """Run ``python -m dmf_np argv``; assert a non-zero exit with one 'error: ...' line, no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), err
    return err


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_demo_with_no_epochs(capsys, epochs):
    assert "epochs must be at least 1" in cli_error(capsys, ["demo", "--epochs", epochs])


def test_gradcheck_with_one_modality(capsys):
    assert "at least 2 modalities" in cli_error(capsys, ["gradcheck", "--modalities", "1"])


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    """A tiny MNIST in IDX files (the command line's data path; the last 10,000 training images are
    the validation set, so there must be more than that)."""
    from dmf_np.data.synthetic import fake_digits
    from tests.test_mnist_data import write_idx

    m = fake_digits(n_train=10_020, n_val=10_000, n_test=20)
    d = tmp_path_factory.mktemp("idx")
    write_idx(d / "train-images-idx3-ubyte", m.train_images.reshape(-1, 28, 28))
    write_idx(d / "train-labels-idx1-ubyte", m.train_labels)
    write_idx(d / "t10k-images-idx3-ubyte", m.test_images.reshape(-1, 28, 28))
    write_idx(d / "t10k-labels-idx1-ubyte", m.test_labels)
    return d


def reproduce(idx_dir, out, *more):
    return ["reproduce", "table1", "--preset", "tiny", "--mnist-dir", str(idx_dir), "--out", str(out),
            "--seeds", "1", "--figures", str(out) + "-figs", "--no-progress", "--report-only", *more]


@pytest.mark.slow  # builds a 10,020-image IDX data set; the RunDir tests below are the fast twins
def test_out_naming_an_existing_file(capsys, tmp_path, idx_dir):
    (tmp_path / "notes.txt").write_text("mine")
    err = cli_error(capsys, reproduce(idx_dir, tmp_path / "notes.txt"))
    assert "notes.txt" in err and "is a file" in err and "FileExistsError" not in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow  # builds a 10,020-image IDX data set; the RunDir tests below are the fast twins
def test_corrupt_result_json_names_the_file(capsys, tmp_path, idx_dir):
    from dmf_np.experiments import mnist as E

    run = tmp_path / "run"
    assert main(reproduce(idx_dir, run)) == 0  # an empty run: config.json, no finished units
    capsys.readouterr()
    clean, lr = E.condition_name("pixels", 0), E.PRESETS["tiny"].lr_grid[0]
    bad = run / "units" / clean / E.MODELS[0] / "seed0" / f"lr{lr:g}" / "result.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"val_\x01error": 3}')  # what a crash of another writer could leave
    assert main(reproduce(idx_dir, run)) == 0  # reported as not finished, named, never read as a result
    out = capsys.readouterr().out
    assert str(bad) in out and "not valid JSON" in out and "recomputes it" in out


@pytest.mark.slow  # builds a 10,020-image IDX data set; the RunDir tests below are the fast twins
def test_corrupt_config_json_names_the_file(capsys, tmp_path, idx_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    err = cli_error(capsys, reproduce(idx_dir, run))
    assert str(run / "config.json") in err and "another --out" in err


def test_info_says_an_invalid_backend_is_invalid(capsys, monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "foo")
    assert main(["info"]) == 0  # info still reports everything else
    out = capsys.readouterr().out
    assert "$DMF_BACKEND = foo is not a valid backend" in out and "numpy, cupy" in out


def test_other_commands_refuse_an_invalid_backend_variable(capsys, monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "foo")
    err = cli_error(capsys, ["demo", "--epochs", "1"])
    assert "'foo'" in err and backend.ENV_VAR in err


def test_backend_errors_are_value_errors():
    """So that every caller's ``except ValueError`` (and dmf_np.cli.main) reports them as one line."""
    with pytest.raises(ValueError, match="unknown backend 'foo'"):
        backend.get_xp("foo")


def test_run_directory_result_reader_names_the_file(tmp_path):
    from dmf_np.experiments.rundir import RunDir

    rd = RunDir(tmp_path / "r")
    rd.save_result(("a", "b"), {"ok": 1})
    assert rd.result("a", "b") == {"ok": 1}
    path = tmp_path / "r" / "units" / "a" / "b" / "result.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=rf"{json.dumps(str(path))[1:-1]}.*delete it"):
        rd.result("a", "b")


def test_run_directory_refuses_a_file_and_a_corrupt_config(tmp_path):
    from dmf_np.experiments.rundir import RunDir

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"notes.txt is a file, not a run directory; choose another --out"):
        RunDir(tmp_path / "notes.txt").start({"preset": "tiny"})
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config.json is not valid JSON .*another --out"):
        RunDir(tmp_path / "r").start({"preset": "tiny"})


@pytest.mark.parametrize("flag", ["--out", "--checkpoint-dir"])
def test_pretrain_output_through_an_existing_file(capsys, tmp_path, flag):
    (tmp_path / "notes.txt").write_text("mine")
    err = cli_error(capsys, ["pretrain", "--n", "50", "--epochs", "1", "--quiet", flag, str(tmp_path / "notes.txt")])
    assert "notes.txt is a file, not a directory" in err and "FileExistsError" not in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_atomic_writes_name_a_file_in_the_way(tmp_path):
    from dmf_np.io import atomic_write_json

    (tmp_path / "a").write_text("mine")
    with pytest.raises(ValueError, match=r"cannot write .*a/b/c.json: .*a is a file, not a directory"):
        atomic_write_json(tmp_path / "a" / "b" / "c.json", {})
