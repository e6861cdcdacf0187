"""Tests for snakehep.plotting: numbers drawn, files written atomically, edge cases."""

from __future__ import annotations

import math

import hist
import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pytest
from matplotlib.figure import Figure
from snakehep.plotting import distributions, fits, limits, style
from snakehep.statistics.results import FitRecord, LimitSummary, Ranking

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EDGES = [120.0, 200.0, 400.0, 1000.0, 3000.0]


def weighted_hist(values, variances=None) -> hist.Hist:
    h = hist.Hist(hist.axis.Variable(EDGES, name="m"), storage=hist.storage.Weight())
    values = np.asarray(values, dtype=float)
    h.view().value = values
    h.view().variance = values if variances is None else np.asarray(variances, dtype=float)
    return h


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_png(path) -> None:
    assert path.exists()
    content = path.read_bytes()
    assert len(content) > 1000
    assert content[:8] == PNG_MAGIC


def assert_no_temporary_files(directory) -> None:
    leftovers = [p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert leftovers == []


def labels_top_to_bottom(ax):
    pairs = zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()])
    return [label for _, label in sorted(pairs, key=lambda pair: -pair[0])]


def by_gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    found += [a for a in ax.lines if a.get_gid() == gid and a not in found]
    return found


# --------------------------------------------------------------------------- ratio


def test_ratio_with_uncertainty_matches_hand_computation():
    ratio, error = distributions.ratio_with_uncertainty(
        np.array([10.0, 4.0, 3.0, 0.0]), np.array([5.0, 8.0, 0.0, 2.0]), np.array([2.0, 1.0, 1.5, 1.0])
    )
    np.testing.assert_allclose(ratio[[0, 1, 3]], [2.0, 0.5, 0.0])
    np.testing.assert_allclose(error[[0, 1, 3]], [0.4, 0.125, 0.5])
    assert math.isnan(ratio[2]) and math.isnan(error[2])


def test_ratio_with_asymmetric_uncertainty():
    ratio, error = distributions.ratio_with_uncertainty(
        np.array([4.0, 1.0]), np.array([2.0, 0.0]), np.array([[1.0, 0.5], [2.0, 1.5]])
    )
    assert error.shape == (2, 2)
    np.testing.assert_allclose(error[:, 0], [0.5, 1.0])
    assert np.all(np.isnan(error[:, 1])) and math.isnan(ratio[1])


def test_ratio_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        distributions.ratio_with_uncertainty(np.ones(3), np.ones(2), np.ones(3))


def test_poisson_interval_known_values():
    low, high = distributions.poisson_interval(np.array([0.0, 1.0, 10.0]))
    # Garwood intervals as tabulated (e.g. PDG, "Poisson" confidence intervals, 68.27% central)
    np.testing.assert_allclose(low, [0.0, 0.173, 6.89], atol=2e-3)
    np.testing.assert_allclose(high, [1.841, 3.300, 14.27], atol=5e-3)


# --------------------------------------------------------------------------- stack


def stack_inputs():
    dy = weighted_hist([100.0, 40.0, 8.0, 0.5], [25.0, 9.0, 4.0, 0.25])
    ttbar = weighted_hist([20.0, 15.0, 3.0, 0.0], [4.0, 4.0, 1.0, 0.0])
    data = weighted_hist([118.0, 60.0, 12.0, 1.0])
    signal = weighted_hist([0.0, 0.0, 5.0, 1.0], [0.0, 0.0, 0.1, 0.01])
    return {"dy": dy, "ttbar": ttbar}, data, {"zprime_1000": signal}


def test_plot_stack_draws_sum_and_writes_png(tmp_path):
    stack, data, signals = stack_inputs()
    output = tmp_path / "plots" / "mass.png"
    fig = distributions.plot_stack(
        stack=stack, data=data, signals=signals, output=output, xlabel="m [GeV]", luminosity_pb=10000.0,
        labels={"dy": "Drell-Yan"}, colors={"dy": "#5790fc"}, region_label="SR",
    )
    assert isinstance(fig, Figure)
    ax, rax = fig.axes
    assert len(fig.axes) == 2
    top = by_gid(ax, "stack:ttbar")[0].get_data()
    total = stack["dy"].values() + stack["ttbar"].values()
    np.testing.assert_allclose(top.values, total)
    np.testing.assert_allclose(top.baseline, stack["dy"].values())
    np.testing.assert_allclose(top.edges, EDGES)
    # the hatched band is total ± sqrt(sum of variances)
    band = by_gid(ax, "band")[0].get_data()
    sigma = np.sqrt(stack["dy"].variances() + stack["ttbar"].variances())
    np.testing.assert_allclose(band.values, total + sigma)
    np.testing.assert_allclose(band.baseline, total - sigma)
    # data points and ratio points
    data_line = by_gid(ax, "data")[0]
    np.testing.assert_allclose(data_line.get_ydata(), data.values())
    ratio_line = by_gid(rax, "ratio")[0]
    np.testing.assert_allclose(ratio_line.get_ydata(), data.values() / total)
    assert rax.get_ylim() == pytest.approx(distributions.RATIO_LIMITS)
    # legend: data, then the stack top to bottom
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend_texts[:3] == ["Data", "ttbar", "Drell-Yan"]
    assert "zprime_1000" in legend_texts and "MC stat. unc." in legend_texts
    signal_artist = by_gid(ax, "signal:zprime_1000")[0]
    assert signal_artist.get_linestyle() == "--"
    assert_png(output)
    assert_no_temporary_files(output.parent)


def test_plot_stack_without_data_log_y_and_pdf(tmp_path):
    stack, _, _ = stack_inputs()
    output = tmp_path / "mass.pdf"
    fig = distributions.plot_stack(stack=stack, data=None, output=output, xlabel="m", luminosity_pb=1000.0, log_y=True)
    ax, rax = fig.axes
    assert ax.get_yscale() == "log"
    assert by_gid(rax, "ratio") == []
    assert output.read_bytes()[:5] == b"%PDF-"
    assert_png(output.with_suffix(".png"))
    assert_no_temporary_files(tmp_path)


def test_plot_stack_empty_bins_and_zero_variance(tmp_path):
    zero = weighted_hist([5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])
    data = weighted_hist([4.0, 2.0, 0.0, 0.0])
    fig = distributions.plot_stack(stack={"bkg": zero}, data=data, output=tmp_path / "e.png", xlabel="m",
                              luminosity_pb=1.0, log_y=True)
    ratio = by_gid(fig.axes[1], "ratio")[0].get_ydata()
    assert ratio[0] == pytest.approx(0.8)
    assert np.all(np.isnan(ratio[1:]))
    assert_png(tmp_path / "e.png")


def test_plot_stack_explicit_uncertainty(tmp_path):
    stack, data, _ = stack_inputs()
    unc = np.array([1.0, 2.0, 3.0, 4.0])
    fig = distributions.plot_stack(stack=stack, data=data, output=tmp_path / "p.png", xlabel="m", luminosity_pb=1.0,
                              uncertainty=unc, uncertainty_label="Post-fit unc.")
    ax = fig.axes[0]
    total = stack["dy"].values() + stack["ttbar"].values()
    np.testing.assert_allclose(by_gid(ax, "band")[0].get_data().values, total + unc)
    assert "Post-fit unc." in [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_stack_rejects_different_binning(tmp_path):
    stack, _, _ = stack_inputs()
    other = hist.Hist(hist.axis.Regular(4, 0, 10), storage=hist.storage.Weight())
    with pytest.raises(ValueError, match="other"):
        distributions.plot_stack(stack={**stack, "other": other}, data=None, output=tmp_path / "x.png", xlabel="m",
                            luminosity_pb=1.0)
    assert not (tmp_path / "x.png").exists()


def test_unsupported_suffix(tmp_path):
    stack, _, _ = stack_inputs()
    with pytest.raises(ValueError, match="unsupported"):
        distributions.plot_stack(stack=stack, data=None, output=tmp_path / "x.jpeg", xlabel="m", luminosity_pb=1.0)


# --------------------------------------------------------------------------- Brazil


def limit_summary():
    def point(mass, obs, med, xsec):
        exp = [med * 0.5, med * 0.7, med, med * 1.4, med * 2.0]
        return {"signal": f"zprime_{int(mass)}", "mass": mass, "xsec_fb": xsec,
                "mu": {"obs": obs / xsec, "exp": [e / xsec for e in exp]},
                "xsec_limit_fb": {"obs": obs, "exp": exp}}

    # deliberately unsorted
    return {"poi": "mu", "cl": 0.95,
            "points": [point(1500.0, 12.0, 10.0, 21.0), point(500.0, 40.0, 50.0, 1600.0), point(1000.0, 22.0, 20.0, 120.0)]}


def test_plot_brazil(tmp_path):
    output = tmp_path / "brazil.png"
    fig = limits.plot_brazil(LimitSummary.from_dict(limit_summary()), output=output, luminosity_pb=10000.0)
    ax = fig.axes[0]
    observed = by_gid(ax, "observed")[0]
    np.testing.assert_allclose(observed.get_xdata(), [500.0, 1000.0, 1500.0])
    np.testing.assert_allclose(observed.get_ydata(), [40.0, 22.0, 12.0])
    np.testing.assert_allclose(by_gid(ax, "expected")[0].get_ydata(), [50.0, 20.0, 10.0])
    np.testing.assert_allclose(by_gid(ax, "theory")[0].get_ydata(), [1600.0, 120.0, 21.0])
    assert by_gid(ax, "band_1sigma") and by_gid(ax, "band_2sigma")
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["Observed", "Expected"]
    assert len(labels) == 5
    assert_png(output)
    assert_no_temporary_files(tmp_path)


def test_plot_brazil_blinded_and_empty(tmp_path):
    summary = limit_summary()
    for p in summary["points"]:
        p["xsec_limit_fb"]["obs"] = None
    fig = limits.plot_brazil(LimitSummary.from_dict(summary), output=tmp_path / "b.png")
    assert by_gid(fig.axes[0], "observed") == []
    with pytest.raises(ValueError):
        limits.plot_brazil(LimitSummary(poi="mu", cl=0.95, points=()), output=tmp_path / "c.png")


# --------------------------------------------------------------------------- pulls


def fit_result(n_staterror=0):
    parameters = [
        {"name": "mu", "value": 0.4, "error": 0.3, "prefit_value": 1.0, "prefit_error": None, "constrained": False},
        {"name": "norm_ttbar", "value": 1.1, "error": 0.1, "prefit_value": 1.0, "prefit_error": None,
         "constrained": False},
        {"name": "lumi", "value": 0.5, "error": 0.8, "prefit_value": 0.0, "prefit_error": 1.0, "constrained": True},
        {"name": "muon_sf", "value": 1.03, "error": 0.01, "prefit_value": 1.0, "prefit_error": 0.02,
         "constrained": True},
    ]
    for i in range(n_staterror):
        parameters.append({"name": f"staterror_SR[{i}]", "value": 1.0, "error": 0.05, "prefit_value": 1.0,
                           "prefit_error": 0.05, "constrained": True})
    return {"poi": "mu", "parameters": parameters}


def fit_record(n_staterror=0) -> FitRecord:
    """fit_result() as the record plot_pulls takes; the rest of the fit does not enter the plot."""
    rest = {"twice_nll": 0.0, "converged": True, "asimov": False, "correlation": [], "yields": {},
            "asimov_fit": {"twice_nll": 0.0, "parameters": []}}
    return FitRecord.from_dict({**rest, **fit_result(n_staterror)})


def test_plot_pulls_values(tmp_path):
    output = tmp_path / "pulls.png"
    fig = fits.plot_pulls(fit_record(n_staterror=3), output=output)
    ax = fig.axes[0]
    pull = by_gid(ax, "pull:muon_sf")[0]
    assert pull.get_xdata()[0] == pytest.approx((1.03 - 1.0) / 0.02)
    assert by_gid(ax, "pull:lumi")[0].get_xdata()[0] == pytest.approx(0.5)
    assert by_gid(ax, "pull:mu") == [] and by_gid(ax, "pull:norm_ttbar") == []
    assert labels_top_to_bottom(ax) == ["lumi", "muon_sf", "staterror_SR[0]", "staterror_SR[1]", "staterror_SR[2]"]
    # the drawn point sits on its own row
    assert pull.get_ydata()[0] == pytest.approx(ax.get_yticks()[1])
    free = [t for t in fig.axes[1].texts if t.get_gid() == "free_parameters"][0].get_text()
    assert "norm_ttbar" in free and "mu (POI)" in free
    assert_png(output)


def test_plot_pulls_staterror_filtering(tmp_path):
    fig = fits.plot_pulls(fit_record(n_staterror=25), output=tmp_path / "p.png")
    assert labels_top_to_bottom(fig.axes[0]) == ["lumi", "muon_sf"]
    fig = fits.plot_pulls(fit_record(n_staterror=25), output=tmp_path / "q.png",
                              include=lambda name: name != "lumi")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "lumi" not in labels and len(labels) == 26


# --------------------------------------------------------------------------- ranking


def ranking_entries(n):
    return [
        {"name": f"np_{i}", "pull": 0.1 * i, "pull_error": 0.9, "impact_prefit_up": 0.2 / (i + 1),
         "impact_prefit_down": -0.18 / (i + 1), "impact_postfit_up": 0.15 / (i + 1),
         "impact_postfit_down": -0.14 / (i + 1)}
        for i in range(n)
    ]


def test_plot_ranking_order_and_truncation(tmp_path):
    output = tmp_path / "ranking.png"
    fig = fits.plot_ranking(Ranking.from_list(ranking_entries(20)), output=output, top=5)
    ax = fig.axes[0]
    assert labels_top_to_bottom(ax) == [f"np_{i}" for i in range(5)]
    bars = [p for p in ax.patches if p.get_gid() == "impact_postfit_up"]
    assert len(bars) == 5
    # widths follow the input order, top bar first
    by_height = sorted(bars, key=lambda p: -p.get_y())
    np.testing.assert_allclose([b.get_width() for b in by_height], [0.15 / (i + 1) for i in range(5)])
    prefit_down = sorted((p for p in ax.patches if p.get_gid() == "impact_prefit_down"), key=lambda p: -p.get_y())
    np.testing.assert_allclose([b.get_width() for b in prefit_down], [-0.18 / (i + 1) for i in range(5)])
    pulls = [line for ax_ in fig.axes for line in ax_.lines if line.get_gid() == "pulls"][0]
    np.testing.assert_allclose(pulls.get_xdata(), [0.1 * i for i in range(5)])
    assert_png(output)
    assert_no_temporary_files(tmp_path)


def test_plot_ranking_short_and_empty(tmp_path):
    fig = fits.plot_ranking(Ranking.from_list(ranking_entries(3)), output=tmp_path / "r.png")
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "impact_prefit_up"]) == 3
    fits.plot_ranking(Ranking(()), output=tmp_path / "empty.png")
    assert_png(tmp_path / "empty.png")


# --------------------------------------------------------------------------- correlations


def correlated_fit() -> FitRecord:
    """Four parameters: mu and lumi correlated by 0.6, muon_sf weakly with both, norm_ttbar
    fixed in the fit (error 0) with a spurious entry that must not count."""
    parameters = [dict(p) for p in fit_result()["parameters"]]
    parameters[1]["error"] = 0.0  # norm_ttbar fixed
    correlation = [[1.0, 0.9, 0.6, 0.05], [0.9, 1.0, 0.0, 0.0], [0.6, 0.0, 1.0, -0.08], [0.05, 0.0, -0.08, 1.0]]
    rest = {"twice_nll": 0.0, "converged": True, "asimov": False, "yields": {},
            "asimov_fit": {"twice_nll": 0.0, "parameters": []}}
    return FitRecord.from_dict({**rest, "poi": "mu", "parameters": parameters, "correlation": correlation})


def test_correlated_parameters_by_threshold_without_fixed_ones():
    fit = correlated_fit()
    assert fits.correlated_parameters(fit, threshold=0.0) == [0, 2, 3]
    assert fits.correlated_parameters(fit, threshold=0.07) == [0, 2, 3]
    assert fits.correlated_parameters(fit, threshold=0.1) == [0, 2]
    assert fits.correlated_parameters(fit, threshold=0.7) == []


def test_plot_correlations_draws_the_kept_submatrix(tmp_path):
    output = tmp_path / "correlations.png"
    fig = fits.plot_correlations(correlated_fit(), output=output, threshold=0.1)
    ax = fig.axes[0]
    (image,) = [artist for artist in ax.images if artist.get_gid() == "correlation"]
    np.testing.assert_array_equal(image.get_array(), [[1.0, 0.6], [0.6, 1.0]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mu", "lumi"]
    assert sorted(t.get_text() for t in ax.texts if t.get_text()[:1] in "01-") == ["0.60", "0.60", "1.00", "1.00"]
    assert_png(output)
    assert_no_temporary_files(tmp_path)


# --------------------------------------------------------------------------- the experiment's label


def label_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_text()]


@pytest.mark.parametrize(("label", "with_data", "without_data"), [
    (style.ExperimentLabel(), ["snakehep", "Demo"], ["snakehep", "Simulation Demo"]),
    (style.ExperimentLabel("CMS", "Preliminary"), ["CMS", "Preliminary"], ["CMS", "Simulation Preliminary"]),
    (style.ExperimentLabel("ATLAS", "Internal", 13.6), ["ATLAS", "Internal"], ["ATLAS", "Simulation Internal"]),
    (style.ExperimentLabel("none", ""), [], ["Simulation"]),
], ids=["default", "CMS", "ATLAS", "none"])
def test_the_experiments_label_with_and_without_data(tmp_path, label, with_data, without_data):
    """The config's plots.label on a stack with data (luminosity and energy on the right) and
    without (mplhep adds "Simulation", once)."""
    stack, data, _ = stack_inputs()
    for shown, expected in ((data, with_data), (None, without_data)):
        fig = distributions.plot_stack(stack=stack, data=shown, output=tmp_path / "m.png", xlabel="m",
                                       luminosity_pb=10000.0, label=label)
        texts = label_texts(fig.axes[0])
        energy = f"({label.energy_tev:g} TeV)"
        (right,) = [t for t in texts if t.endswith(energy)]
        assert right.startswith("10 ")  # fb^-1: the simulation is normalised to it too
        assert [t for t in texts if t != right and t != "SR"] == expected


def test_the_label_comes_from_the_config_and_atlas_plots_in_atlas_style():
    label = style.ExperimentLabel.of({"label": {"experiment": "ATLAS", "text": "Internal"}})
    assert label == style.ExperimentLabel("ATLAS", "Internal", 13.0)
    assert label.style is mplhep.style.ATLAS and style.ExperimentLabel().style is mplhep.style.CMS
    assert style.ExperimentLabel.of({}) == style.ExperimentLabel("snakehep", "Demo", 13.0)


@pytest.mark.parametrize("log_y", [False, True], ids=["linear", "log"])
def test_the_legend_hides_no_data_point_nor_stack(tmp_path, log_y):
    """A flat distribution filling the whole width (as a muon's eta): the y range grows until
    the legend's box holds no data point and no top of a stacked bar."""
    flat = weighted_hist([900.0, 1000.0, 1100.0, 1000.0])
    data = weighted_hist([950.0, 1020.0, 1080.0, 990.0])
    signals = {f"signal_{i}": weighted_hist([10.0, 20.0, 30.0, 40.0]) for i in range(3)}
    fig = distributions.plot_stack(stack={"dy": flat}, data=data, signals=signals, output=tmp_path / "eta.png",
                                   xlabel="eta", luminosity_pb=1000.0, log_y=log_y)
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    centres = 0.5 * (np.array(EDGES[:-1]) + np.array(EDGES[1:]))
    high = data.values() + distributions.poisson_interval(data.values())[1] - data.values()
    points = ax.transData.transform(np.column_stack([centres, high]))
    tops = ax.transData.transform(np.column_stack([centres, flat.values()]))
    assert not any(box.contains(x, y) for x, y in [*points, *tops])
