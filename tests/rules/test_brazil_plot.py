"""Rule brazil_plot: the Brazil plot is a PNG of the figure's size that changes with the limits."""

from __future__ import annotations

import json

from conftest import job_params, png_size, run_rule
from snakehep.plotting.style import DPI
from test_limit_summary import POINTS


def brazil(tmp_path, config: dict, summary: dict, name: str) -> bytes:
    (tmp_path / f"{name}.json").write_text(json.dumps(summary))
    output = tmp_path / f"{name}.png"
    run_rule("brazil_plot", params=job_params("brazil_plot", config), inputs={"files": [tmp_path / f"{name}.json"]},
             outputs={"files": [output]}, tmp_path=tmp_path)
    width, height = png_size(output)
    # plotting/limits.py, plot_brazil: figsize (10, 9) inches at DPI, cropped to the drawing (bbox "tight")
    assert 0.8 * 10 * DPI <= width <= 1.1 * 10 * DPI and 0.8 * 9 * DPI <= height <= 1.1 * 9 * DPI
    return output.read_bytes()


def test_brazil_plot_is_a_png_that_changes_with_the_limits(default_config, tmp_path):
    summary = {"poi": "mu", "cl": 0.95, "points": sorted(POINTS, key=lambda p: p["mass"])}
    stronger = json.loads(json.dumps(summary))
    for point in stronger["points"]:
        point["xsec_limit_fb"]["obs"] /= 2
    assert brazil(tmp_path, default_config, summary, "a") != brazil(tmp_path, default_config, stronger, "b")
