"""examples/cat_classifier.ipynb runs from top to bottom without errors.

The kernel is this interpreter (a kernelspec written to a temporary JUPYTER_PATH), so the test
runs the notebook against the installed nnscratch on any machine, whatever kernels the user
has registered.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

pytestmark = pytest.mark.timeout(900)  # a kernel process; each cell may take up to 300 s

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "cat_classifier.ipynb"
KERNEL = "nnscratch-test-python"


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch) -> str:
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nnscratch test kernel",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


def test_notebook_runs(cat_data_dir, this_python_kernel, monkeypatch, tmp_path):
    monkeypatch.setenv("NNSCRATCH_DATA", str(cat_data_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=this_python_kernel,
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "it's a 'cat' picture" in text
    assert "Cost after iteration 300" in text
    assert "p(cat) =" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "samples grid, loss curves and misclassified images are shown"
