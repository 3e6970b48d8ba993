"""The notebooks under notebooks/ run top to bottom against the built-in mock server (no GPU, no network), so they
cannot rot. Each runs in a fresh kernel in a temporary folder (its artifacts/ and inputs/ go there)."""
from __future__ import annotations

from pathlib import Path

import nbclient  # dev dependencies (Makefile PY_DEV_PACKAGES): a missing one fails, it does not skip
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
CELL_TIMEOUT_S = 300


def _execute(name: str, cwd: Path):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return notebook


def _outputs(notebook):
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_the_three_notebooks_are_committed_without_outputs():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["01_quick_start.ipynb", "02_compare_configurations.ipynb", "03_images.ipynb"]
    for name in names:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert not _outputs(notebook), f"{name}: clear the outputs before committing"


@pytest.mark.parametrize(("name", "figures", "gallery_images"), [
    ("01_quick_start.ipynb", 4, 0),
    ("02_compare_configurations.ipynb", 3, 0),
    ("03_images.ipynb", 2, 6 + 1 + 8),
])
def test_notebook_runs_top_to_bottom(name, figures, gallery_images, tmp_path):
    notebook = _execute(name, tmp_path)
    outputs = _outputs(notebook)
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{name} wrote to stderr: {stderr}"
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == figures  # each plot shown once (no duplicate from a pyplot backend)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert html.count('<img src="data:image/png;base64,') == gallery_images
    assert (tmp_path / "artifacts").is_dir()
