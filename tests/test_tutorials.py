"""Every tutorial runs, in fast mode, as a fresh script: so none of them can rot.

Each tutorial is started the way a reader starts it (``python tutorials/NN_name.py`` from the
repository root) with ``DMF_TUTORIAL_FAST=1`` (small data, few epochs), the Agg matplotlib backend,
and ``DMF_FIGURES_DIR`` pointing at a temporary directory, so the tests never overwrite the figures
committed in figures/.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each tutorial is a fresh Python process: `pytest -m "not slow"` skips them

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def _run(path: Path, figures: Path, timeout: int = 300, extra_env=None):
    env = dict(os.environ, DMF_TUTORIAL_FAST="1", MPLBACKEND="Agg", DMF_FIGURES_DIR=str(figures))
    env.pop("DMF_BACKEND", None)  # tutorials choose their backend themselves
    env.update(extra_env or {})
    return subprocess.run([sys.executable, str(path.relative_to(ROOT))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_tutorials_exist_in_order():
    numbers = [int(p.name[:2]) for p in TUTORIALS]
    assert numbers, "no tutorials found in tutorials/"
    assert numbers == sorted(set(numbers)), f"tutorial numbers must be unique: {numbers}"
    for required in (1, 3, 4, 8):
        assert required in numbers, f"tutorial {required:02d} is missing"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_states_what_it_teaches(path):
    text = path.read_text()
    assert text.count("# %% [markdown]") >= 3, "a tutorial alternates prose cells and code cells"
    head = text[: text.index("# %%\n")] if "# %%\n" in text else text
    for phrase in ("What this teaches", "Read first", "How long it runs"):
        assert phrase in head, f"{path.name}: its first cell must say '{phrase}'"


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """Runs a tutorial once per test session (fast mode) and returns (result, its figures directory)."""
    done = {}

    def get(name: str):
        if name not in done:
            figures = tmp_path_factory.mktemp(name)
            done[name] = (_run(ROOT / "tutorials" / name, figures), figures)
        return done[name]

    return get


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_fast_mode(path, fast_run):
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "figures").glob("*.png")}
    result, figures = fast_run(path.name)
    assert result.returncode == 0, (f"{path.name} failed (exit {result.returncode})\n"
                                    f"--- stdout (tail) ---\n{result.stdout[-3000:]}\n"
                                    f"--- stderr (tail) ---\n{result.stderr[-3000:]}")
    assert result.stdout.strip(), f"{path.name} printed nothing"
    # figures go to DMF_FIGURES_DIR in tests, never into the committed figures/
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "figures").glob("*.png")}
    assert after == before, f"{path.name} wrote into figures/ although DMF_FIGURES_DIR was set"
    for line in result.stdout.splitlines():
        m = re.match(r"figure written to (.+)$", line)
        if m:
            written = Path(m.group(1).strip())
            assert written.parent == figures and written.is_file() and written.stat().st_size > 1000, line


def test_learning_paths_tutorial_reports_its_numbers(fast_run):
    """Tutorial 4's claims are computed: every hand-computed term matches the library, the path split
    sums to the total, and the ablation prints a verdict."""
    result, figures = fast_run("04_learning_paths.py")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "approx: False" not in out
    assert out.count("approx: True") >= 15
    assert "sum of the parts vs the total" in out
    assert re.search(r"mean difference \(cut - DMF\): [+-]\d", out)
    assert (figures / "tutorial_04_learning_paths.png").is_file()
    assert (figures / "tutorial_04_ablation.png").is_file()


def test_gpu_tutorial_explains_a_skip(fast_run):
    """Without a usable GPU the CuPy tutorial must still run, and say why it skipped the GPU parts."""
    from dmf_np import backend

    ok, why = backend.cupy_status()
    result, _ = fast_run("08_gpu_cupy.py")
    assert result.returncode == 0, result.stderr[-3000:]
    if not ok:
        assert why in result.stdout
        assert "skipp" in result.stdout.lower()
    else:
        assert "tolerance" in result.stdout    # the parity check ran


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorials_open_as_notebooks(path, tmp_path):
    """The percent-format script converts to a notebook that runs under a Jupyter kernel in fast mode,
    from the repository root, with no error cell; a figure shown with show_and_save is in the cell's
    output. Needs the tutorials extra (pip install -e .[tutorials]); skipped without it."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = jupytext.read(path)
    kinds = {cell.cell_type for cell in nb.cells}
    assert kinds == {"markdown", "code"}, f"{path.name}: cells {kinds}"
    env = dict(os.environ, DMF_TUTORIAL_FAST="1", DMF_FIGURES_DIR=str(tmp_path))
    for name in ("DMF_BACKEND", "MPLBACKEND", "DMF_EXERCISE_SOLUTIONS"):
        env.pop(name, None)  # the kernel draws inline; tutorials choose their backend themselves
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute(env=env)  # raises CellExecutionError, with the cell and traceback, on an error
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert not any(word in stderr for word in ("Traceback", "Error", "Warning")), stderr[-3000:]
    if "show_and_save(" in path.read_text():
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no figure shown"
