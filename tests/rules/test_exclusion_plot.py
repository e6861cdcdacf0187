"""Rule exclusion_plot: a PNG of the grid; the observed and expected contours lie where CLs
crosses 1 - CL, checked on a grid where log CLs is linear in m1 + m2 (so the linear interpolation
over the triangulation is exact and each contour is a straight line m1 + m2 = constant)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import png_size, run_rule
from snakehep.plotting.style import DPI

SLOPE = 1.0 / 200.0  # log10 CLs per GeV of m1 + m2


def table(offset_obs: float, offset_exp: float) -> dict:
    points = []
    for m1 in np.linspace(200, 1000, 9):
        for m2 in np.linspace(0, 400, 5):
            def cls(offset):
                return 10 ** (-(m1 + m2 - offset) * SLOPE)
            median = cls(offset_exp)
            points.append({"name": f"P_{m1:g}_{m2:g}", "values": [m1, m2], "cls_obs": cls(offset_obs),
                           "cls_exp": [median / 4, median / 2, median, median * 2, median * 4]})
    return {"labels": ["m(C1) [GeV]", "m(N1) [GeV]"], "cl": 0.95, "points": points}


def test_contours_where_cls_crosses_the_level(tmp_path):
    from snakehep.plotting.exclusion import plot_exclusion

    data = table(offset_obs=300.0, offset_exp=400.0)
    figure = plot_exclusion(data, output=tmp_path / "exclusion.png")
    level = math.log10(0.05)
    for gid, offset in (("observed", 300.0), ("expected", 400.0)):
        (contour,) = [c for c in figure.axes[0].collections if c.get_gid() == gid]
        vertices = np.concatenate([path.vertices for path in contour.get_paths()])
        assert len(vertices) >= 2
        # -(m1 + m2 - offset) * SLOPE = level  <=>  m1 + m2 = offset - level / SLOPE
        np.testing.assert_allclose(vertices.sum(axis=1), offset - level / SLOPE, rtol=1e-9)


def test_the_rule_writes_the_plot(tmp_path):
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(table(offset_obs=300.0, offset_exp=350.0)))
    output = tmp_path / "exclusion.png"
    run_rule("exclusion_plot", params={}, inputs={"files": [scan]}, outputs={"files": [output]},
             tmp_path=tmp_path)
    width, height = png_size(output)
    assert 0.75 * 10 * DPI <= width <= 1.15 * 10 * DPI and 0.75 * 9 * DPI <= height <= 1.15 * 9 * DPI


def test_too_few_points_is_an_error(tmp_path):
    from snakehep.plotting.exclusion import plot_exclusion

    data = table(300.0, 300.0)
    data["points"] = data["points"][:2]
    with pytest.raises(ValueError, match="at least 3 points"):
        plot_exclusion(data, output=tmp_path / "x.png")


def test_one_label_draws_cls_against_it(tmp_path):
    """A line of mass points (the workflow's own patchset: one label, the mass): CLs against the
    mass, observed and expected, with the level."""
    from snakehep.plotting.exclusion import plot_exclusion

    points = [{"name": f"Z{m}", "values": [m], "cls_obs": 10 ** (-m / 500), "cls_exp": [0.1, 0.2, 0.3, 0.4, 0.5]}
              for m in (1500.0, 500.0, 1000.0)]
    figure = plot_exclusion({"labels": ["mass"], "cl": 0.95, "points": points}, output=tmp_path / "cls.png")
    (observed,) = [line for line in figure.axes[0].lines if line.get_gid() == "observed"]
    np.testing.assert_array_equal(observed.get_xdata(), [500.0, 1000.0, 1500.0])
    np.testing.assert_allclose(observed.get_ydata(), [0.1, 0.01, 0.001])
