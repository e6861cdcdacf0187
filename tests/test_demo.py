"""Tests of the demo-data generator (snakehep.demo): file format, determinism, physics shapes."""

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

from snakehep import demo
from snakehep.errors import ConfigError

REPO = pathlib.Path(__file__).resolve().parents[1]
BTAG_WP = 0.2783

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
    for sample, part in [("dy", 0), ("dy", 1), ("ttbar", 0), ("zprime_1000", 0), ("data", 0)]:
        out[f"{sample}/{part}"] = directory / f"{sample}_{part}.root"
        demo.generate_sample_part(analysis, sample=sample, part=part, output=out[f"{sample}/{part}"])
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
    demo.generate_sample_part(analysis, sample="dy", part=0, output=again)
    first, second = read(files["dy/0"]), read(again)
    assert first.fields == second.fields
    for field in first.fields:
        assert ak.array_equal(first[field], second[field]), field


def test_different_part_or_seed_differs(files, analysis, tmp_path):
    dy0, dy1 = read(files["dy/0"]), read(files["dy/1"])
    assert not ak.array_equal(dy0["Muon_pt"], dy1["Muon_pt"])
    reseeded = copy.deepcopy(analysis)
    reseeded["demo"]["seed"] += 1
    demo.generate_sample_part(reseeded, sample="dy", part=0, output=tmp_path / "seed.root")
    assert not ak.array_equal(dy0["Muon_pt"], read(tmp_path / "seed.root")["Muon_pt"])


def test_seeding_independent_of_python_hash(files, analysis, tmp_path):
    """The per-file seed must not depend on PYTHONHASHSEED (crc32, not hash())."""
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(analysis), encoding="utf-8")
    script = (
        "import sys, yaml; from snakehep import demo;"
        "cfg = yaml.safe_load(open(sys.argv[1]));"
        "demo.generate_sample_part(cfg, sample='dy', part=0, output=sys.argv[2])"
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
    bad["demo"]["inject_signal"] = {"sample": "dy", "mu": 1.0}
    with pytest.raises(ConfigError, match="inject_signal"):
        demo.generate_sample_part(bad, sample="data", part=0, output=tmp_path / "x.root")
    assert not (tmp_path / "x.root").exists()


# ------------------------------------------------------------------------------ compression


@pytest.mark.parametrize(
    ("text", "cls", "level"),
    [("ZLIB:4", uproot.ZLIB, 4), ("LZ4:1", uproot.LZ4, 1), ("ZSTD:5", uproot.ZSTD, 5), ("LZMA:9", uproot.LZMA, 9)],
)
def test_parse_compression(text, cls, level):
    compression = demo.parse_compression(text)
    assert isinstance(compression, cls) and compression.level == level


@pytest.mark.parametrize("text", ["GZIP:4", "ZLIB", "ZLIB:x", "ZLIB:4:1", "", None, 4])
def test_bad_compression_raises_config_error(analysis, tmp_path, text):
    with pytest.raises(ConfigError, match=r"demo\.compression"):
        demo.parse_compression(text)
    bad = copy.deepcopy(analysis)
    bad["demo"]["compression"] = text
    with pytest.raises(ConfigError, match=r"demo\.compression"):
        demo.generate_demo_inputs(bad, samples=["dy"])


def test_write_nanoaod_round_trip(tmp_path):
    events = demo.simulate_process("diboson", 500, np.random.default_rng(2))
    path = tmp_path / "out" / "diboson.root"
    demo.write_nanoaod(path, events, compression="LZ4:1", n_generated=1000, sum_genweights=12.5)
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

    stamp = pathlib.Path("resources/demo/dy/part0.root").stat().st_mtime_ns
    assert demo.generate_demo_inputs(config) == []
    assert pathlib.Path("resources/demo/dy/part0.root").stat().st_mtime_ns == stamp
    rewritten = demo.generate_demo_inputs(config, samples=["dy"], overwrite=True)
    assert rewritten == [pathlib.Path("resources/demo/dy/part0.root"),
                         pathlib.Path("resources/demo/dy/part1.root")]


def test_generate_demo_inputs_unknown_sample(analysis, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="nosuch"):
        demo.generate_demo_inputs(analysis, samples=["nosuch"])
