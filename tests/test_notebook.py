"""notebooks/analysis.ipynb runs from top to bottom against results/reference/, and is
committed without outputs."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the dev extra (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need the dev extra (nbclient, ipykernel)")


def test_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
def test_executes_against_the_reference_run():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "20261125-173850-cpu-cpu: Intel(R) Xeon(R) Processor" in text
    assert "regressed: True; factor x1.25 (default for CPU runs)" in text
    markdown = "\n".join(o.data.get("text/markdown", "") for o in outputs if "data" in o)
    summary = "### vae-bench compare: REGRESSION: 4 regression, 0 improvement, 0 trade-off, 4 unchanged"
    assert summary in markdown
    pngs = [base64.b64decode(o.data["image/png"]) for o in outputs if "data" in o and "image/png" in o.data]
    assert len(pngs) == 8  # memory, time, tiled overhead for encode and decode; the history; a fit
    assert "NVIDIA GeForce RTX 3080 10GB: 10240 MiB; 1024 MiB headroom (10% of the card)" in markdown
    assert "PROJECTED from" in markdown
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" and len(p) > 5_000 for p in pngs)
