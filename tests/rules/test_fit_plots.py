"""Rule fit_plots: pulls, ranking and one post-fit plot per channel, PNGs of the sizes the
plotting code's figures have (a row per nuisance parameter), from a fit made by snakehep.steps.fit."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import job_params, png_size, run_rule
from snakehep.plotting.style import DPI
from snakehep.steps.fit import fit

EDGES = {"SR": [150.0, 400.0, 1000.0], "CR": [150.0, 300.0, 600.0]}
YIELDS = {  # per channel: signal, dy, ttbar, data
    "SR": ([3.0, 6.0], [80.0, 12.0], [10.0, 2.0], [95.0, 19.0]),
    "CR": ([0.1, 0.2], [5.0, 1.0], [60.0, 15.0], [70.0, 14.0]),
}


def fit_plot_params(config: dict) -> dict:
    """The step's params builder on the demo's config, with this test's channels and mll label."""
    config = copy.deepcopy(config)
    config["inference"].update(channels=list(YIELDS), fit_signal="zprime_1000")
    config["histograms"]["mll"]["label"] = "m [GeV]"
    return job_params("fit_plots", config)


def workspace() -> dict:
    def sample(name, data, modifiers):
        return {"name": name, "data": data, "modifiers": modifiers}

    channels = []
    for channel, (signal, dy, ttbar, _) in YIELDS.items():
        staterror = {"name": f"staterror_{channel}", "type": "staterror", "data": [1.0, 1.0]}
        channels.append({"name": channel, "samples": [
            sample("signal", signal, [{"name": "mu", "type": "normfactor", "data": None}]),
            sample("dy", dy, [{"name": "xsec_dy", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                              staterror]),
            sample("ttbar", ttbar, [{"name": "ttbar_norm", "type": "normfactor", "data": None}]),
        ]})
    return {"channels": channels,
            "observations": [{"name": c, "data": y[3]} for c, y in YIELDS.items()],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0"}


@pytest.fixture(scope="module")
def fit_files(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("fit")
    (directory / "ws.json").write_text(json.dumps(workspace()))
    (directory / "binning.json").write_text(json.dumps({"observable": "mll", "channels": EDGES}))
    fit(workspace=directory / "ws.json", fit_output=directory / "fit.json",
               ranking_output=directory / "ranking.json")
    return {name: directory / f"{name}.json" for name in ("fit", "ranking", "binning")}


def test_fit_plots_are_pngs_of_their_figure_sizes(fit_files, default_config, tmp_path):
    outputs = {"pulls": [tmp_path / "pulls.png"], "ranking": [tmp_path / "ranking.png"],
               "postfit": [tmp_path / f"postfit_{c}.png" for c in YIELDS]}
    run_rule("fit_plots", params=fit_plot_params(default_config),
             inputs={name: [path] for name, path in fit_files.items()}, outputs=outputs,
             tmp_path=tmp_path)

    result = json.loads(fit_files["fit"].read_text())
    constrained = [p for p in result["parameters"] if p["constrained"]]
    ranked = json.loads(fit_files["ranking"].read_text())
    assert len(constrained) == len(ranked) == 5  # xsec_dy and 2 channels x 2 bins of staterror
    # plotting/fits.py, distributions.py: pulls (12, max(5, 0.45 n + 2.5)), ranking (10, max(5, 0.5 n + 3)) and its
    # legend below (up to 2 inches more), stack (10, 10) inches at DPI, cropped to the drawing
    sizes = {"pulls": (12, max(5.0, 0.45 * 5 + 2.5), 0), "ranking": (10, max(5.0, 0.5 * 5 + 3), 2),
             "postfit": (10, 10, 0)}
    for name, paths in outputs.items():
        for path in paths:
            width, height = png_size(path)
            inches_wide, inches_high, below = sizes[name]
            assert 0.75 * inches_wide * DPI <= width <= 1.15 * inches_wide * DPI, (path, width)
            assert 0.75 * inches_high * DPI <= height <= (1.15 * inches_high + below) * DPI, (path, height)
    assert outputs["postfit"][0].read_bytes() != outputs["postfit"][1].read_bytes()


def test_with_separate_eras_each_post_fit_plot_says_its_eras_luminosity(fit_files, default_config, tmp_path,
                                                                        monkeypatch):
    """Channels {region}_{era}: the label of each post-fit plot is its era's luminosity, not the
    sum of the eras' (the figures' text as mplhep drew it)."""
    import matplotlib.pyplot as plt
    from snakehep.steps import fit_plots

    config = copy.deepcopy(default_config)
    lumis = {"2017": 41480.0, "2018": 59830.0}
    config.pop("luminosity")
    config["eras"] = {era: {"luminosity": lumi} for era, lumi in lumis.items()}
    for name, sample in config["samples"].items():
        sample["era"] = "2017"
    config["inference"].update(channels=["SR"], eras="separate", fit_signal="zprime_1000")
    config["plots"] = {"signals": ["zprime_1000"]}
    params = job_params("fit_plots", config)
    assert params["channels"] == ["SR_2017", "SR_2018"]

    # the fit's channels renamed as the eras' (same yields): SR -> SR_2017, CR -> SR_2018
    record = json.loads(fit_files["fit"].read_text())
    record["yields"]["postfit"] = dict(zip(params["channels"], record["yields"]["postfit"].values()))
    (tmp_path / "fit.json").write_text(json.dumps(record))
    (tmp_path / "binning.json").write_text(json.dumps(
        {"observable": "mll", "channels": dict(zip(params["channels"], EDGES.values()))}))
    texts = {}
    monkeypatch.setattr(plt, "close", lambda figure: texts.setdefault(
        len(texts), " ".join(t.get_text() for ax in figure.axes for t in ax.texts)))
    fit_plots.plot_fit(params["settings"], fit_result=tmp_path / "fit.json", ranking=fit_files["ranking"],
                       binning=tmp_path / "binning.json", pulls_output=tmp_path / "pulls.png",
                       ranking_output=tmp_path / "ranking.png",
                       postfit_outputs={c: tmp_path / f"postfit_{c}.png" for c in params["channels"]})
    postfit = list(texts.values())[2:]
    assert len(postfit) == 2
    for text, era in zip(postfit, lumis):
        assert f"{lumis[era] / 1000:.1f}" in text and f"{sum(lumis.values()) / 1000:.1f}" not in text, text
