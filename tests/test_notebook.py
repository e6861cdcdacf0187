"""notebooks/explore.ipynb is kept in git as its source: no outputs, no execution counts (the
integration tests execute it: tests/integration/test_workflow.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_notebook_is_there():
    assert "explore.ipynb" in [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebooks_are_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    with_outputs = [i for i, cell in enumerate(notebook.cells)
                    if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not with_outputs, (f"{path.name}: cells {with_outputs} have outputs; clear them "
                              f"(jupyter nbconvert --clear-output --inplace {path.name})")
