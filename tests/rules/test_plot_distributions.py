"""Rule plot_distributions: one stacked data/MC PNG per region of the observable, of the figure's
size, each drawn from its own region's histograms."""

from __future__ import annotations

import copy

import numpy as np
from conftest import job_params, png_size, run_rule
from snakehep.histograms.store import Bins, HistogramStore, write_store
from snakehep.plotting.style import DPI

EDGES = np.array([150.0, 200.0, 300.0, 500.0, 1000.0])


def settings(config: dict) -> dict:
    """The params of the job of mll: the step's builder on the demo's config, mll binned as here."""
    config = copy.deepcopy(config)
    config["histograms"]["mll"] = {"expr": "mll", "label": "m [GeV]", "edges": EDGES.tolist(), "log_y": True}
    return job_params("plot_distributions", config, observable="mll")["settings"]


def merged(path) -> None:
    rng = np.random.default_rng(3)
    store = HistogramStore()
    for region, scale in (("SR", 1.0), ("CR", 5.0)):
        for group in ("data", "dy", "ttbar", "zprime_1000"):
            values = scale * rng.uniform(1, 100, len(EDGES) + 1)
            store[(group, region, "mll", "nominal")] = Bins(EDGES, values, values, 10)
    write_store(path, store)


def test_one_plot_per_region_of_the_figure_size(default_config, tmp_path):
    merged(tmp_path / "merged.root")
    outputs = [tmp_path / "plots" / f"{region}_mll.png" for region in ("SR", "CR")]
    run_rule("plot_distributions", params={"settings": settings(default_config)},
             inputs={"files": [tmp_path / "merged.root"]}, outputs={"files": outputs},
             tmp_path=tmp_path)
    for path in outputs:  # plotting/distributions.py, plot_stack: figsize (10, 10) at DPI, cropped to the drawing
        width, height = png_size(path)
        assert 0.8 * 10 * DPI <= width <= 1.1 * 10 * DPI and 0.8 * 10 * DPI <= height <= 1.1 * 10 * DPI
    assert outputs[0].read_bytes() != outputs[1].read_bytes()
    assert sorted(p.name for p in outputs[0].parent.iterdir()) == ["CR_mll.png", "SR_mll.png"]
