"""Tests of the demo-data generator (snakehep.demo.generator): file format, determinism, physics shapes."""

from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml
from snakehep.demo import generator as demo
from snakehep.demo.nanoaod import parse_compression, write_nanoaod
from snakehep.demo.truth import truth_dy
from snakehep.errors import ConfigError

REPO = pathlib.Path(__file__).resolve().parents[1]
BTAG_WP = 0.2783
DY = "dy_m120to400"  # the lowest Drell-Yan mass slice (two input files)

COMMON_BRANCHES = {
    "run": "uint32",
    "luminosityBlock": "uint32",
    "event": "uint64",
    "HLT_Mu50": "bool",
    "nMuon": "int32",
    "Muon_pt": "float32",
    "Muon_eta": "float32",
    "Muon_phi": "float32",
    "Muon_mass": "float32",
    "Muon_charge": "int32",
    "Muon_highPtId": "uint8",
    "Muon_tkRelIso": "float32",
    "Muon_pfRelIso04_all": "float32",
    "nElectron": "int32",
    "Electron_pt": "float32",
    "Electron_eta": "float32",
    "Electron_phi": "float32",
    "Electron_mass": "float32",
    "Electron_charge": "int32",
    "Electron_cutBased": "int32",
    "nJet": "int32",
    "Jet_pt": "float32",
    "Jet_eta": "float32",
    "Jet_phi": "float32",
    "Jet_mass": "float32",
    "Jet_jetId": "int32",
    "Jet_btagDeepFlavB": "float32",
    "MET_pt": "float32",
    "MET_phi": "float32",
}
MC_BRANCHES = {**COMMON_BRANCHES, "genWeight": "float32", "Pileup_nTrueInt": "float32"}


@pytest.fixture(scope="module")
def analysis() -> dict:
    """The repository config, shrunk: 4000 MC events per file, 300/pb of pseudo-data."""
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as stream:
        config = yaml.safe_load(stream)
    config["demo"]["events_per_file"] = 4000
    config["luminosity"] = 300.0
    return config


@pytest.fixture(scope="module")
def files(analysis: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    directory = tmp_path_factory.mktemp("demo")
    out = {}
    for sample, part in [(DY, 0), (DY, 1), ("ttbar", 0), ("zprime_1000", 0), ("data", 0)]:
        key = f"{'dy' if sample == DY else sample}/{part}"
        out[key] = directory / f"{sample}_{part}.root"
        demo.generate_sample_part(analysis, sample=sample, part=part, output=out[key])
    return out


def read(path: pathlib.Path, tree: str = "Events") -> dict[str, np.ndarray | ak.Array]:
    with uproot.open(path) as file:
        return file[tree].arrays(library="ak")


def leading_pair_mass(events) -> np.ndarray:
    """Invariant mass of the two leading muons (massless approximation), numpy only."""
    counts = ak.to_numpy(events["nMuon"])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts >= 2]
    flat = {k: ak.to_numpy(ak.flatten(events[f"Muon_{k}"])).astype(np.float64) for k in ("pt", "eta", "phi")}
    first, second = ({k: v[starts + i] for k, v in flat.items()} for i in (0, 1))
    m2 = 2 * first["pt"] * second["pt"] * (
        np.cosh(first["eta"] - second["eta"]) - np.cos(first["phi"] - second["phi"])
    )
    return np.sqrt(m2)


def as_file_layout(events: ak.Array) -> dict[str, ak.Array]:
    """simulate_process records, flattened to the branch names of a file."""
    out = {}
    for field in events.fields:
        if field in ("Muon", "Electron", "Jet"):
            out[f"n{field}"] = ak.num(events[field])
            out.update({f"{field}_{k}": events[field][k] for k in events[field].fields})
        else:
            out[field] = events[field]
    return out


# ------------------------------------------------------------------------------------ format


@pytest.mark.parametrize(("key", "expected"), [("dy/0", MC_BRANCHES), ("data/0", COMMON_BRANCHES)])
def test_branch_names_and_dtypes(files, key, expected):
    with uproot.open(files[key]) as file:
        assert file.classnames()["Events;1"] == "TTree"
        tree = file["Events"]
        types = {name: str(ak.type(array).content).split("* ")[-1]
                 for name, array in tree.arrays(library="ak", how=dict).items()}
    assert types == expected


def test_counters_and_pt_ordering(files):
    for key in ("dy/0", "ttbar/0", "data/0"):
        events = read(files[key])
        for collection in ("Muon", "Electron", "Jet"):
            pt = events[f"{collection}_pt"]
            assert ak.all(events[f"n{collection}"] == ak.num(pt))
            assert ak.all(pt[:, 1:] <= pt[:, :-1]), f"{key}: {collection} not sorted by pt"
        assert ak.sum(events["nMuon"]) > len(events)  # most events have two muons


def test_mc_runs_tree_normalisation(files, analysis):
    events = read(files["dy/0"])
    runs = read(files["dy/0"], "Runs")
    weights = ak.to_numpy(events["genWeight"]).astype(np.float64)
    assert len(runs) == 1
    assert runs["genEventCount"][0] == len(events) == analysis["demo"]["events_per_file"]
    assert runs["genEventSumw"][0] == pytest.approx(weights.sum(), rel=1e-12)
    negative = np.mean(weights < 0)
    assert 0.05 < negative < 0.15  # NLO-like DY weights
    assert len(np.unique(np.abs(weights))) == 1


def test_data_has_no_generator_information(files):
    with uproot.open(files["data/0"]) as file:
        assert "Runs" not in [key.split(";")[0] for key in file.keys()]
        names = set(file["Events"].keys())
    assert "genWeight" not in names and "Pileup_nTrueInt" not in names


def test_event_numbers_unique(files):
    for key in ("dy/0", "data/0"):
        events = read(files[key])
        ids = np.stack([ak.to_numpy(events[k]).astype(np.uint64)
                        for k in ("run", "luminosityBlock", "event")], axis=1)
        assert len(np.unique(ids[:, [0, 2]], axis=0)) == len(events)
    dy0, dy1 = read(files["dy/0"]), read(files["dy/1"])
    assert not set(ak.to_numpy(dy0["event"])) & set(ak.to_numpy(dy1["event"]))


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_content(files, analysis, tmp_path):
    again = tmp_path / "again.root"
    demo.generate_sample_part(analysis, sample=DY, part=0, output=again)
    first, second = read(files["dy/0"]), read(again)
    assert first.fields == second.fields
    for field in first.fields:
        assert ak.array_equal(first[field], second[field]), field


def test_different_part_or_seed_differs(files, analysis, tmp_path):
    dy0, dy1 = read(files["dy/0"]), read(files["dy/1"])
    assert not ak.array_equal(dy0["Muon_pt"], dy1["Muon_pt"])
    reseeded = copy.deepcopy(analysis)
    reseeded["demo"]["seed"] += 1
    demo.generate_sample_part(reseeded, sample=DY, part=0, output=tmp_path / "seed.root")
    assert not ak.array_equal(dy0["Muon_pt"], read(tmp_path / "seed.root")["Muon_pt"])


def test_seeding_independent_of_python_hash(files, analysis, tmp_path):
    """The per-file seed must not depend on PYTHONHASHSEED (crc32, not hash())."""
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(analysis), encoding="utf-8")
    script = (
        "import sys, yaml; from snakehep.demo import generator as demo;"
        "cfg = yaml.safe_load(open(sys.argv[1]));"
        f"demo.generate_sample_part(cfg, sample='{DY}', part=0, output=sys.argv[2])"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", script, str(config_path), str(tmp_path / "sub.root")],
                   check=True, env=env)
    assert ak.array_equal(read(files["dy/0"])["Muon_pt"], read(tmp_path / "sub.root")["Muon_pt"])


# ----------------------------------------------------------------------------------- physics


def test_zprime_peak_position_and_width():
    mass = 1000.0
    events = demo.simulate_process("zprime", 20000, np.random.default_rng(7), mass=mass)
    m = leading_pair_mass(as_file_layout(events))
    window = m[(m > 0.8 * mass) & (m < 1.2 * mass)]
    assert len(window) > 0.6 * len(events)
    assert abs(np.median(window) / mass - 1) < 0.02
    # natural width 3 % (Breit-Wigner: interquartile range = Gamma) and resolution: muons of
    # ~500 GeV have sigma(pT)/pT = 1 % + 2.5 % in quadrature, i.e. sigma(m)/m ~ 1.9 %
    q1, q3 = np.percentile(window, [25, 75])
    relative_iqr = (q3 - q1) / mass
    gamma, sigma_m = 0.03, np.hypot(0.01, 0.025) / np.sqrt(2)
    assert 0.8 * gamma < relative_iqr < gamma + 1.35 * sigma_m


def test_zprime_selection_efficiency():
    """Full selection of the analysis (numpy): expected 60-80 % for the demo signal."""
    events = as_file_layout(demo.simulate_process("zprime", 20000, np.random.default_rng(3), mass=1500.0))
    good = ((events["Muon_pt"] > 53) & (abs(events["Muon_eta"]) < 2.4)
            & (events["Muon_highPtId"] == 2) & (events["Muon_tkRelIso"] < 0.1))
    charge = events["Muon_charge"][good]
    selected = events["HLT_Mu50"] & (ak.num(charge) >= 2)
    opposite = ak.fill_none(ak.firsts(charge) * ak.firsts(charge[:, 1:]) < 0, False)
    efficiency = ak.mean(selected & opposite)
    assert 0.6 < efficiency < 0.85


def test_dy_mass_spectrum_falls():
    events = demo.simulate_process("dy", 20000, np.random.default_rng(11))
    m = leading_pair_mass(as_file_layout(events))
    counts, _ = np.histogram(m, bins=np.arange(150.0, 451.0, 50.0))
    assert np.all(np.diff(counts) < 0), counts
    assert np.mean(m > 120 * 0.9) > 0.95  # generated above 120 GeV


def test_ttbar_has_b_jets_and_met():
    events = as_file_layout(demo.simulate_process("ttbar", 10000, np.random.default_rng(5)))
    tagged = ak.sum(events["Jet_btagDeepFlavB"] > BTAG_WP, axis=1) >= 1
    assert ak.mean(tagged) > 0.7
    assert np.all(ak.to_numpy(events["genWeight"]) > 0)
    dy = demo.simulate_process("dy", 10000, np.random.default_rng(5))
    assert np.median(ak.to_numpy(events["MET_pt"])) > 2 * np.median(ak.to_numpy(dy["MET_pt"]))


def test_detector_realism():
    events = as_file_layout(demo.simulate_process("dy", 20000, np.random.default_rng(13)))
    eta = ak.to_numpy(ak.flatten(events["Muon_eta"]))
    assert np.all(np.abs(eta) <= 2.5) and np.any(np.abs(eta) > 2.4)  # stored with 12 bits
    high_pt = ak.to_numpy(ak.flatten(events["Muon_highPtId"][events["Muon_pt"] > 53]))
    assert 0.9 < np.mean(high_pt == 2) < 0.97
    pileup = ak.to_numpy(events["Pileup_nTrueInt"])
    assert abs(pileup.mean() - 30) < 0.5 and np.all(pileup == np.round(pileup))
    assert ak.max(events["nElectron"]) <= 1 and 0.02 < ak.mean(events["nElectron"]) < 0.3
    lead = ak.firsts(events["Muon_pt"])
    triggered = ak.to_numpy(events["HLT_Mu50"])
    assert not np.any(triggered & ~ak.to_numpy(ak.fill_none(lead > 50, False)))


def test_simulate_process_errors():
    with pytest.raises(ConfigError):
        demo.simulate_process("wjets", 10, np.random.default_rng(1))
    with pytest.raises(ConfigError):
        demo.simulate_process("zprime", 10, np.random.default_rng(1))


# -------------------------------------------------------------------------------- pseudo-data


def expected_data_events(analysis: dict, *, include_signal: bool = False) -> float:
    n_parts = len(analysis["samples"]["data"]["inputs"])
    total = 0.0
    for sample in analysis["samples"].values():
        if analysis["processes"][sample["process"]]["kind"] == "background":
            total += sample["xsec"] * sample.get("kfactor", 1.0) * analysis["luminosity"] / n_parts
    return total


def test_data_count_matches_poisson_mean(files, analysis):
    mean = expected_data_events(analysis)
    n = len(read(files["data/0"]))
    assert abs(n - mean) < 5 * np.sqrt(mean), (n, mean)


def test_inject_signal_adds_events_at_the_mass(files, analysis, tmp_path):
    injected = copy.deepcopy(analysis)
    mu = 50.0
    injected["demo"]["inject_signal"] = {"sample": "zprime_1000", "mu": mu}
    demo.generate_sample_part(injected, sample="data", part=0, output=tmp_path / "data.root")
    with_signal = read(tmp_path / "data.root")
    baseline = read(files["data/0"])

    def near_peak(events) -> int:
        m = leading_pair_mass(events)
        return int(np.sum((m > 900) & (m < 1100)))

    signal_mean = mu * 0.12 * analysis["luminosity"]
    assert near_peak(with_signal) - near_peak(baseline) > 0.4 * signal_mean
    n = len(with_signal)
    mean = expected_data_events(analysis) + signal_mean
    assert abs(n - mean) < 5 * np.sqrt(mean)


def test_inject_signal_must_name_a_signal_sample(analysis, tmp_path):
    bad = copy.deepcopy(analysis)
    bad["demo"]["inject_signal"] = {"sample": DY, "mu": 1.0}
    with pytest.raises(ConfigError, match="inject_signal"):
        demo.generate_sample_part(bad, sample="data", part=0, output=tmp_path / "x.root")
    assert not (tmp_path / "x.root").exists()


# ------------------------------------------------------------------------------ compression


@pytest.mark.parametrize(
    ("text", "cls", "level"),
    [("ZLIB:4", uproot.ZLIB, 4), ("LZ4:1", uproot.LZ4, 1), ("ZSTD:5", uproot.ZSTD, 5), ("LZMA:9", uproot.LZMA, 9)],
)
def test_parse_compression(text, cls, level):
    compression = parse_compression(text)
    assert isinstance(compression, cls) and compression.level == level


@pytest.mark.parametrize("text", ["GZIP:4", "ZLIB", "ZLIB:x", "ZLIB:4:1", "", None, 4])
def test_bad_compression_raises_config_error(analysis, tmp_path, text):
    with pytest.raises(ConfigError, match=r"demo\.compression"):
        parse_compression(text)
    bad = copy.deepcopy(analysis)
    bad["demo"]["compression"] = text
    with pytest.raises(ConfigError, match=r"demo\.compression"):
        demo.generate_demo_inputs(bad, samples=[DY])


def test_write_nanoaod_round_trip(tmp_path):
    events = demo.simulate_process("diboson", 500, np.random.default_rng(2))
    path = tmp_path / "out" / "diboson.root"
    write_nanoaod(path, events, compression="LZ4:1", n_generated=1000, sum_genweights=12.5)
    back = read(path)
    assert ak.array_equal(back["Muon_pt"], events["Muon"]["pt"])
    runs = read(path, "Runs")
    assert runs["genEventCount"][0] == 1000 and runs["genEventSumw"][0] == 12.5
    assert [p.name for p in path.parent.iterdir()] == ["diboson.root"]  # no temporary left


# ---------------------------------------------------------------------- generate_demo_inputs


def test_generate_demo_inputs_writes_listed_demo_paths(analysis, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(analysis)
    config["demo"]["events_per_file"] = 300
    config["luminosity"] = 10.0
    config["samples"]["external"] = {"process": "dy", "xsec": 1.0,
                                     "inputs": ["/data/store/external.root", "other/dy.root"]}
    listed = [pathlib.Path(p) for s in config["samples"].values() for p in s["inputs"]
              if p.startswith("resources/demo/")]
    written = demo.generate_demo_inputs(config)
    assert sorted(written) == sorted(listed)
    on_disk = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk == sorted(listed)
    assert not pathlib.Path("other").exists()

    stamp = pathlib.Path("resources/demo/dy_m120to400/part0.root").stat().st_mtime_ns
    assert demo.generate_demo_inputs(config) == []
    assert pathlib.Path("resources/demo/dy_m120to400/part0.root").stat().st_mtime_ns == stamp
    rewritten = demo.generate_demo_inputs(config, samples=[DY], overwrite=True)
    assert rewritten == [pathlib.Path("resources/demo/dy_m120to400/part0.root"),
                         pathlib.Path("resources/demo/dy_m120to400/part1.root")]


def test_generate_demo_inputs_unknown_sample(analysis, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="nosuch"):
        demo.generate_demo_inputs(analysis, samples=["nosuch"])


# ------------------------------------------------------------------- mass-binned Drell-Yan


def truth_pair_mass(truth) -> np.ndarray:
    """Generator dimuon mass of truth_dy events (the first two truth muons of each event)."""
    n = truth.n
    mu = truth.muons
    first, second = slice(0, n), slice(n, 2 * n)
    m2 = 2 * mu["pt"][first] * mu["pt"][second] * (
        np.cosh(mu["eta"][first] - mu["eta"][second]) - np.cos(mu["phi"][first] - mu["phi"][second])
    )
    return np.sqrt(m2)


def spectrum_fraction(low: float, high: float, *, full=(120.0, 6000.0), alpha=4.5) -> float:
    """Fraction of the m^-alpha spectrum on ``full`` that lies in [low, high] (analytic)."""
    def integral(a, b):
        return (a ** (1 - alpha) - b ** (1 - alpha)) / (alpha - 1)
    return integral(low, high) / integral(*full)


def test_dy_truth_mass_inside_range():
    for low, high in [(400.0, 800.0), (2300.0, 6000.0)]:
        m = truth_pair_mass(truth_dy(20000, np.random.default_rng(21), (low, high)))
        assert np.all(m > low * (1 - 1e-6)) and np.all(m < high * (1 + 1e-6))
        # m^-4.5 truncated: the median is where the CDF reaches one half
        a = 1 - 4.5
        median = (0.5 * (low**a + high**a)) ** (1 / a)
        assert abs(np.median(m) / median - 1) < 0.01


def test_dy_reconstructed_mass_inside_range():
    low, high = 800.0, 1400.0
    events = demo.simulate_process("dy", 10000, np.random.default_rng(22), mass_range=(low, high))
    m = leading_pair_mass(as_file_layout(events))
    # resolution ~2-3 % at 1 TeV; a lost muon paired with a soft one gives a few low masses
    assert np.mean((m > 0.9 * low) & (m < 1.1 * high)) > 0.9
    assert np.mean(m > 1.1 * high) < 0.005


def test_mass_range_errors():
    rng = np.random.default_rng(1)
    with pytest.raises(ConfigError, match="only process dy"):
        demo.simulate_process("ttbar", 10, rng, mass_range=(400.0, 800.0))
    for bad in [(800.0, 400.0), (0.0, 100.0), (100.0, 20000.0), (1.0,), "ab"]:
        with pytest.raises(ConfigError, match="mass_range"):
            demo.simulate_process("dy", 10, rng, mass_range=bad)


def test_mass_range_in_config_must_be_dy(analysis, tmp_path):
    bad = copy.deepcopy(analysis)
    bad["demo"]["mass_ranges"]["ttbar"] = [400, 800]
    with pytest.raises(ConfigError, match=r"demo\.mass_ranges\.ttbar"):
        demo.generate_sample_part(bad, sample="ttbar", part=0, output=tmp_path / "x.root")


def test_slice_cross_sections_reproduce_the_spectrum(analysis):
    """xsec_i = 22 pb x (analytic fraction of the spectrum in slice i); slices tile 120-6000."""
    ranges = analysis["demo"]["mass_ranges"]
    edges = sorted(ranges.values())
    assert edges[0][0] == 120 and edges[-1][1] == 6000
    assert all(a[1] == b[0] for a, b in zip(edges, edges[1:]))  # contiguous, no overlap
    for name, (low, high) in ranges.items():
        sample = analysis["samples"][name]
        assert sample["process"] == "dy"
        expected = 22.0 * spectrum_fraction(low, high)
        assert sample["xsec"] * sample.get("kfactor", 1.0) == pytest.approx(expected, rel=0.01), name


def test_union_of_slices_matches_unsliced_shape(analysis):
    """Slices generated separately and weighted by xsec_i / n_i give the unsliced spectrum."""
    bins = np.geomspace(120.0, 6000.0, 16)
    n = 20000
    sliced = np.zeros(len(bins) - 1)
    variance = np.zeros(len(bins) - 1)
    for k, (name, mass_range) in enumerate(analysis["demo"]["mass_ranges"].items()):
        m = truth_pair_mass(truth_dy(n, np.random.default_rng(100 + k), tuple(mass_range)))
        weight = analysis["samples"][name]["xsec"] / n
        counts, _ = np.histogram(m, bins)
        sliced += weight * counts
        variance += weight**2 * counts
    assert np.all(sliced > 0)
    full = 22.0 * np.array([spectrum_fraction(a, b) for a, b in zip(bins[:-1], bins[1:])])
    pull = (sliced - full) / np.sqrt(variance + (0.005 * full) ** 2)  # xsec rounded in config
    assert np.all(np.abs(pull) < 4.5), pull
    # the unsliced sample has the same shape (its high-mass tail is just sparsely populated)
    m = truth_pair_mass(truth_dy(n, np.random.default_rng(99)))
    counts, _ = np.histogram(m, bins)
    low = full > 50 * 22.0 / n  # bins with > 50 expected events
    assert np.all(np.abs(counts[low] - full[low] * n / 22.0) < 5 * np.sqrt(full[low] * n / 22.0))


def test_data_slices_drawn_from_their_ranges(analysis, tmp_path):
    """Pseudo-data from two DY slices only: masses in the union, counts in the xsec ratio."""
    config = copy.deepcopy(analysis)
    keep = {"data", "dy_m800to1400", "dy_m1400to2300"}
    config["samples"] = {k: v for k, v in config["samples"].items() if k in keep}
    config["demo"]["mass_ranges"] = {k: v for k, v in config["demo"]["mass_ranges"].items()
                                     if k in keep}
    config["luminosity"] = 200_000.0  # about 5600 events
    demo.generate_sample_part(config, sample="data", part=0, output=tmp_path / "data.root")
    m = leading_pair_mass(read(tmp_path / "data.root"))
    assert np.mean((m > 720) & (m < 2530)) > 0.9
    n_low = np.sum((m > 800) & (m < 1400))
    n_high = np.sum((m > 1400) & (m < 2300))
    ratio = 0.02470 / 0.003342
    assert abs(n_low / n_high / ratio - 1) < 5 * np.sqrt(1 / n_low + 1 / n_high)


# ------------------------------------------------------------ data efficiencies (scale factors)


MUON_SF = [0.5, 0.7, 0.9, 0.6]  # |eta| bins [0, 0.9, 1.2, 2.1, 2.4]
BTAG_EDGES = [30, 50, 70, 100, 140, 200, 300, 600, 1000]
BTAG_SF = [0.4, 0.5, 0.6, 0.7, 0.8, 0.5, 0.5, 0.5]


def ttbar_only(analysis: dict, *, scale_factors: dict | None) -> dict:
    """Pseudo-data that are ttbar only (about 10000 events), with the given scale factors."""
    config = copy.deepcopy(analysis)
    config["samples"] = {k: v for k, v in config["samples"].items() if k in ("data", "ttbar")}
    config["demo"]["mass_ranges"] = {}
    config["luminosity"] = 10000 / 9.7
    if scale_factors is None:
        config.pop("scale_factors", None)
        config["variations"]["weight"] = []
    else:
        config["scale_factors"] = scale_factors
    return config


def sf_entry(obj: str, variable: str, edges: list, values: list) -> dict:
    return {"object": obj, "variable": variable, "edges": edges, "values": values,
            "uncertainties": [0.01] * len(values)}


@pytest.fixture(scope="module")
def ttbar_data(analysis, tmp_path_factory) -> dict[str, dict]:
    """ttbar pseudo-data without, with unit and with test scale factors, and ttbar MC."""
    directory = tmp_path_factory.mktemp("sf")
    factors = {
        "none": None,
        "unit": {"muon_id": sf_entry("muons", "abs(eta)", [0, 0.9, 1.2, 2.1, 2.4], [1.0] * 4),
                 "btag": sf_entry("bjets", "pt", BTAG_EDGES, [1.0] * 8)},
        "test": {"muon_id": sf_entry("muons", "abs(eta)", [0, 0.9, 1.2, 2.1, 2.4], MUON_SF),
                 "btag": sf_entry("bjets", "pt", BTAG_EDGES, BTAG_SF)},
    }
    out = {}
    for key, sf in factors.items():
        demo.generate_sample_part(ttbar_only(analysis, scale_factors=sf), sample="data", part=0,
                                  output=directory / f"{key}.root")
        out[key] = read(directory / f"{key}.root")
    out["mc"] = as_file_layout(demo.simulate_process("ttbar", 20000, np.random.default_rng(31)))
    return out


def test_no_or_unit_scale_factors_change_nothing(ttbar_data):
    none, unit = ttbar_data["none"], ttbar_data["unit"]
    assert none.fields == unit.fields
    for field in none.fields:
        assert ak.array_equal(none[field], unit[field]), field


def test_scale_factors_only_touch_id_and_btag(ttbar_data):
    none, test = ttbar_data["none"], ttbar_data["test"]
    for field in none.fields:
        same = ak.array_equal(none[field], test[field])
        assert same == (field not in ("Muon_highPtId", "Jet_btagDeepFlavB")), field
    # only ID 2 -> 0 and tagged -> untagged transitions
    before, after = (ak.to_numpy(ak.flatten(x["Muon_highPtId"])) for x in (none, test))
    changed = before != after
    assert np.all(before[changed] == 2) and np.all(after[changed] == 0)
    before, after = (ak.to_numpy(ak.flatten(x["Jet_btagDeepFlavB"])) for x in (none, test))
    changed = before != after
    assert np.all(before[changed] > BTAG_WP) and np.all(after[changed] < BTAG_WP)


def id_fraction(events, low: float, high: float) -> tuple[float, int]:
    """Fraction of isolated (mostly prompt) muons, pT > 53 GeV, low <= |eta| < high, with ID 2."""
    eta = abs(events["Muon_eta"])
    muons = (events["Muon_pt"] > 53) & (events["Muon_tkRelIso"] < 0.1) & (eta >= low) & (eta < high)
    ids = ak.to_numpy(ak.flatten(events["Muon_highPtId"][muons]))
    return float(np.mean(ids == 2)), len(ids)


def tag_fraction(events, low: float, high: float) -> tuple[float, int]:
    """Fraction of central jets with low <= pT < high above the b-tag working point."""
    pt = events["Jet_pt"]
    jets = (abs(events["Jet_eta"]) < 2.4) & (pt >= low) & (pt < high)
    scores = ak.to_numpy(ak.flatten(events["Jet_btagDeepFlavB"][jets]))
    return float(np.mean(scores > BTAG_WP)), len(scores)


def assert_ratio(data: tuple[float, int], mc: tuple[float, int], expected: float) -> None:
    (p_data, n_data), (p_mc, n_mc) = data, mc
    ratio = p_data / p_mc
    sigma = ratio * np.sqrt((1 - p_data) / (p_data * n_data) + (1 - p_mc) / (p_mc * n_mc))
    assert abs(ratio - expected) < 4 * sigma + 0.005, (ratio, expected, sigma)


@pytest.mark.parametrize("k", range(4))
def test_muon_id_efficiency_scaled_in_data(ttbar_data, k):
    low, high = [0, 0.9, 1.2, 2.1, 2.4][k : k + 2]
    data = id_fraction(ttbar_data["test"], low, high)
    assert data[1] > 150  # the last bin is only 0.3 wide in |eta|
    assert_ratio(data, id_fraction(ttbar_data["mc"], low, high), MUON_SF[k])
    # and the data without scale factors agree with the simulation
    assert_ratio(id_fraction(ttbar_data["none"], low, high), id_fraction(ttbar_data["mc"], low, high), 1.0)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_btag_efficiency_scaled_in_data(ttbar_data, k):
    low, high = BTAG_EDGES[k : k + 2]
    data = tag_fraction(ttbar_data["test"], low, high)
    assert data[1] > 500
    assert_ratio(data, tag_fraction(ttbar_data["mc"], low, high), BTAG_SF[k])


def test_btag_outside_edges_takes_nearest_bin(ttbar_data):
    data = tag_fraction(ttbar_data["test"], 15.0, 30.0)  # below the first edge: SF of [30, 50)
    assert_ratio(data, tag_fraction(ttbar_data["mc"], 15.0, 30.0), BTAG_SF[0])


def test_scale_factors_above_one_clip_and_warn_once(analysis, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(demo, "_warned_scale_factors", set())
    above = {"muon_id": sf_entry("muons", "abs(eta)", [0, 2.4], [1.2])}
    config = ttbar_only(analysis, scale_factors=above)
    config["luminosity"] = 100.0
    with caplog.at_level("WARNING", logger="snakehep.demo.generator"):
        demo.generate_sample_part(config, sample="data", part=0, output=tmp_path / "a.root")
        demo.generate_sample_part(config, sample="data", part=0, output=tmp_path / "b.root")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "muon_id" in r.getMessage()]
    assert len(warnings) == 1
    plain = ttbar_only(analysis, scale_factors=None)
    plain["luminosity"] = 100.0
    demo.generate_sample_part(plain, sample="data", part=0, output=tmp_path / "c.root")
    assert ak.array_equal(read(tmp_path / "a.root")["Muon_highPtId"],
                          read(tmp_path / "c.root")["Muon_highPtId"])


def test_scale_factors_leave_simulation_alone(analysis, tmp_path):
    config = ttbar_only(analysis, scale_factors={
        "muon_id": sf_entry("muons", "abs(eta)", [0, 2.4], [0.5]),
        "btag": sf_entry("bjets", "pt", [30, 1000], [0.5])})
    config["demo"]["events_per_file"] = 500
    demo.generate_sample_part(config, sample="ttbar", part=0, output=tmp_path / "sf.root")
    demo.generate_sample_part(ttbar_only(analysis, scale_factors=None) | {"demo": config["demo"]},
                              sample="ttbar", part=0, output=tmp_path / "plain.root")
    with_sf, plain = read(tmp_path / "sf.root"), read(tmp_path / "plain.root")
    for field in plain.fields:
        assert ak.array_equal(with_sf[field], plain[field]), field
