"""Certified luminosity (``samples.<name>.lumi_mask``): the vectorised mask against a plain Python
loop over (run, luminosity block) pairs, with the real 2017 golden JSON and the real data file
nano_dimuon.root (CMS, run 315267, luminosity block 205: a 2018 run, which the 2017 golden JSON
does not certify), and the cutflow line ``certified`` of every sample."""

from __future__ import annotations

import copy
import json

import awkward as ak
import numpy as np
import pytest
import uproot
from snakehep.analysis.config import validate
from snakehep.analysis.samples import Sample
from snakehep.demo.nanoaod import NanoWriter
from snakehep.errors import ConfigError, InputFileError
from snakehep.selection.lumi_mask import load_lumi_mask, parse_lumi_mask
from snakehep.selection.processing import compile_analysis, process_file
from test_processing import LOOSE_SELECTION

GOLDEN_2017 = "Cert_294927-306462_13TeV_EOY2017ReReco_Collisions17_JSON.txt"
KEY = "samples.data.lumi_mask"
MUON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "looseId", "pfRelIso04_all")
JET_FIELDS = ("pt", "eta", "phi", "mass", "jetId", "btagDeepFlavB")


def certified_by_loop(golden: dict, runs, blocks) -> list[bool]:
    """Event by event in plain Python: is (run, luminosity block) in one of the run's ranges?"""
    return [
        any(first <= block <= last for first, last in golden.get(str(run), []))
        for run, block in zip(runs.tolist(), blocks.tolist())
    ]


def read_lumis(path) -> tuple[np.ndarray, np.ndarray]:
    events = uproot.open(path)["Events"]
    return events["run"].array(library="np"), events["luminosityBlock"].array(library="np")


def write_events(path, source, *, keep=None, runs=None, blocks=None, drop=()):
    """The events of real file ``source`` that the selection below reads (``keep``: a mask of
    those to write), their run and luminosity block replaced by ``runs`` and ``blocks`` if given,
    without the branches in ``drop``."""
    tree = uproot.open(source)["Events"]
    names = [f"Muon_{f}" for f in MUON_FIELDS] + [f"Jet_{f}" for f in JET_FIELDS]
    arrays = tree.arrays([*names, "MET_pt", "run", "luminosityBlock", "event"])
    columns = {
        "run": ak.to_numpy(arrays["run"]) if runs is None else np.asarray(runs, np.uint32),
        "luminosityBlock": (ak.to_numpy(arrays["luminosityBlock"]) if blocks is None
                            else np.asarray(blocks, np.uint32)),
        "event": ak.to_numpy(arrays["event"]),
        "MET_pt": ak.to_numpy(arrays["MET_pt"]),
        "Muon": ak.zip({f: arrays[f"Muon_{f}"] for f in MUON_FIELDS}),
        "Jet": ak.zip({f: arrays[f"Jet_{f}"] for f in JET_FIELDS}),
    }
    events = ak.zip({k: v for k, v in columns.items() if k not in drop}, depth_limit=1)
    if keep is not None:
        events = events[np.asarray(keep, dtype=bool)]
    with uproot.recreate(path) as file:
        NanoWriter(file).extend(events)
    return path


@pytest.fixture
def loose_config(analysis_config) -> dict:
    analysis_config["selection"] = copy.deepcopy(LOOSE_SELECTION)
    analysis_config["selection"]["step_size"] = 7  # several chunks of the 40 events
    return analysis_config


def data_sample(lumi_mask=None) -> Sample:
    return Sample("data", "data", "data", ("x",), lumi_mask=None if lumi_mask is None else str(lumi_mask))


def steps(result) -> dict[str, int]:
    return {step["name"]: step["raw"] for step in result.cutflow}


# ---------------------------------------------------------------- the mask against a loop


def test_certified_equals_a_plain_loop_on_the_2017_golden_json(nanoaod_files):
    path = nanoaod_files[GOLDEN_2017]
    golden = json.loads(path.read_text())
    mask = load_lumi_mask(path, key=KEY)
    rng = np.random.default_rng(2017)
    certified_runs = np.array(sorted(map(int, golden)), dtype=np.int64)
    edges = np.array([[int(r), b] for r, ranges in golden.items() for a, z in ranges
                      for b in (a - 1, a, a + 1, z - 1, z, z + 1)], dtype=np.int64)
    runs = np.concatenate([rng.choice(certified_runs, 20_000), rng.integers(294_000, 307_000, 5_000),
                           edges[:, 0], [315267, 0, 2**32 - 1]])
    blocks = np.concatenate([rng.integers(0, 2_500, 25_000), edges[:, 1].clip(0), [205, 0, 2**32 - 1]])
    got = mask.certified(runs.astype(np.uint32), blocks.astype(np.uint32))
    expected = certified_by_loop(golden, runs, blocks)
    assert got.dtype == bool and got.tolist() == expected
    assert 0.2 < np.mean(expected) < 0.9  # both answers are common: the check is not vacuous
    assert mask.n_ranges == sum(map(len, golden.values()))  # no two ranges of the file touch


def test_overlapping_and_adjacent_ranges_are_merged_and_both_ends_count():
    golden = {"7": [[10, 20], [15, 30], [31, 31], [40, 40]], "8": [[1, 1]], "9": []}
    mask = parse_lumi_mask(golden, source="test")
    runs = np.repeat(np.arange(6, 11), 45)
    blocks = np.tile(np.arange(45), 5)
    assert mask.certified(runs, blocks).tolist() == certified_by_loop(golden, runs, blocks)
    assert mask.n_ranges == 3  # [10, 31], [40, 40] of run 7, [1, 1] of run 8
    assert not mask.certified(np.array([-7]), np.array([15])).any()  # signed branches: no wrap


# ---------------------------------------------------------------- the selection on real files


def test_real_data_file_with_the_2017_golden_json(loose_config, nanoaod_files):
    path = nanoaod_files["nano_dimuon.root"]
    runs, blocks = read_lumis(path)
    assert set(zip(runs.tolist(), blocks.tolist())) == {(315267, 205)}  # one luminosity block
    golden = json.loads(nanoaod_files[GOLDEN_2017].read_text())
    expected = sum(certified_by_loop(golden, runs, blocks))
    assert expected == 0  # run 315267 is from 2018: no event is certified by the 2017 JSON
    analysis = compile_analysis(loose_config)
    result = process_file(analysis, data_sample(nanoaod_files[GOLDEN_2017]), str(path))
    counts = steps(result)
    assert list(counts)[:2] == ["all", "certified"]
    assert counts["all"] == result.n_events == 40 and counts["certified"] == expected
    assert all(raw == 0 for name, raw in counts.items() if name != "all")
    assert all(bins.entries == 0 for bins in result.histograms.values())


def test_real_data_file_with_its_own_block_certified_or_not(loose_config, nanoaod_files, tmp_path):
    path = str(nanoaod_files["nano_dimuon.root"])
    analysis = compile_analysis(loose_config)
    unmasked = process_file(analysis, data_sample(), path)
    assert "certified" not in steps(unmasked)  # a config without lumi_mask: the cutflow of before
    certified = tmp_path / "certified.json"
    certified.write_text(json.dumps({"315267": [[205, 205]]}))
    around = tmp_path / "around.json"
    around.write_text(json.dumps({"315267": [[1, 204], [206, 900]], "315268": [[205, 205]]}))
    kept = process_file(analysis, data_sample(certified), path)
    assert steps(kept) == {"all": 40, "certified": 40, **{k: v for k, v in steps(unmasked).items() if k != "all"}}
    assert {key: bins.values.tolist() for key, bins in kept.histograms.items()} == \
        {key: bins.values.tolist() for key, bins in unmasked.histograms.items()}
    dropped = process_file(analysis, data_sample(around), path)
    assert steps(dropped)["certified"] == 0 and steps(dropped)["all"] == 40


def test_part_of_a_file_certified_keeps_exactly_the_events_of_a_loop(loose_config, nanoaod_files,
                                                                      tmp_path, kernel):
    """The real events of nano_dimuon.root, given several runs and luminosity blocks (the file
    has one), and a golden JSON certifying some of them: the events the selection keeps are
    those a plain loop certifies (the same cutflow and histograms as a file of just those)."""
    source = nanoaod_files["nano_dimuon.root"]
    index = np.arange(40)
    runs = np.where(index % 3 == 0, 315267, 315270)
    blocks = 200 + (index * 7) % 11
    relabelled = write_events(tmp_path / "relabelled.root", source, runs=runs, blocks=blocks)
    golden = {"315267": [[201, 203], [206, 206]], "315270": [[1, 204], [209, 300]],
              "315999": [[1, 1000]]}
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    loop = certified_by_loop(golden, runs, blocks)
    assert 10 < sum(loop) < 30
    subset = write_events(tmp_path / "subset.root", source, keep=loop, runs=runs, blocks=blocks)
    loose_config["selection"]["kernel"] = kernel
    analysis = compile_analysis(loose_config)
    masked = process_file(analysis, data_sample(tmp_path / "golden.json"), str(relabelled))
    reference = process_file(analysis, data_sample(), str(subset))
    counts, expected = steps(masked), steps(reference)
    assert list(counts)[:2] == ["all", "certified"]
    assert counts["all"] == 40 and counts["certified"] == sum(loop) == expected["all"]
    assert {k: v for k, v in counts.items() if k not in ("all", "certified")} == \
        {k: v for k, v in expected.items() if k != "all"}
    assert expected["mass"] > 0  # some certified events pass every cut
    assert all(step["weighted"] == step["raw"] for step in masked.cutflow)
    for key, bins in reference.histograms.items():
        assert masked.histograms[key].values.tolist() == bins.values.tolist(), key


def test_every_sample_has_the_certified_step_when_one_has_a_lumi_mask(loose_config, nanoaod_files):
    """The cutflow tables need the same steps for every sample: simulation gets certified == all."""
    loose_config["samples"]["data"]["lumi_mask"] = str(nanoaod_files[GOLDEN_2017])
    analysis = compile_analysis(validate(loose_config))
    assert analysis.certified_step
    simulation = Sample("dy_m120to400", "dy", "background", ("x",), xsec=1.0)
    result = process_file(analysis, simulation, str(nanoaod_files["nano_dy.root"]))
    names = [step["name"] for step in result.cutflow]
    assert names[:2] == ["all", "certified"] and names[2:] == analysis.selection.step_names[1:]
    assert result.cutflow[1]["raw"] == result.cutflow[0]["raw"] == 40
    assert result.cutflow[1]["weighted"] == result.cutflow[0]["weighted"]
    data = process_file(analysis, data_sample(), str(nanoaod_files["nano_dimuon.root"]))
    assert [step["name"] for step in data.cutflow] == names  # a data sample without a mask too


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("content, message", [
    ('{"315267": [[205, 205]]', "is not valid JSON"),
    ('[[205, 205]]', "a golden JSON maps runs"),
    ('{"Run2017B": [[1, 2]]}', "'Run2017B' is not a run number"),
    ('{"315267": [[205, 200]]}', r"range \[205, 200\] must have 0 <= first <= last"),
    ('{"315267": [[205]]}', r"\[205\] is not a luminosity-block range"),
    ('{"315267": [[1.5, 3]]}', "is not a luminosity-block range"),
    ('{"315267": "1-3"}', "expected a list"),
])
def test_malformed_golden_json_names_file_and_key(loose_config, nanoaod_files, tmp_path, content, message):
    golden = tmp_path / "bad_golden.json"
    golden.write_text(content)
    with pytest.raises(InputFileError, match=rf"samples\.data\.lumi_mask: .*bad_golden\.json.*{message}"):
        process_file(compile_analysis(loose_config), data_sample(golden), str(nanoaod_files["nano_dimuon.root"]))


def test_missing_golden_json_names_file_and_key(loose_config, nanoaod_files, tmp_path):
    with pytest.raises(InputFileError, match=r"samples\.data\.lumi_mask: golden JSON .*nope\.json not found"):
        process_file(compile_analysis(loose_config), data_sample(tmp_path / "nope.json"),
                     str(nanoaod_files["nano_dimuon.root"]))


@pytest.mark.parametrize("drop", [("luminosityBlock",), ("run", "luminosityBlock")])
def test_missing_run_or_luminosity_block_names_file_sample_and_key(loose_config, nanoaod_files, tmp_path, drop):
    path = write_events(tmp_path / "no_lumi.root", nanoaod_files["nano_dimuon.root"], drop=drop)
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps({"315267": [[205, 205]]}))
    with pytest.raises(InputFileError, match=rf"sample data: .*no_lumi\.root lacks branch\(es\) "
                                             rf"{', '.join(drop)} needed by samples\.data\.lumi_mask"):
        process_file(compile_analysis(loose_config), data_sample(golden), str(path))


def test_lumi_mask_of_a_simulation_sample_is_a_config_error(analysis_config):
    analysis_config["samples"]["ttbar"]["lumi_mask"] = "golden.json"
    with pytest.raises(ConfigError, match=r"samples\.ttbar\.lumi_mask: only data samples"):
        validate(analysis_config)


def test_a_cut_named_certified_clashes_with_a_lumi_mask(analysis_config):
    analysis_config["samples"]["data"]["lumi_mask"] = "golden.json"
    analysis_config["selection"]["cuts"].append({"name": "certified", "expr": "MET_pt > 0"})
    with pytest.raises(ConfigError, match=r"selection\.cuts: the name 'certified' .*samples\.data\.lumi_mask"):
        validate(analysis_config)


def test_an_eras_golden_json_masks_its_data_samples_only(analysis_config):
    """eras.<era>.lumi_mask: the data samples of the era use it (unless they name their own),
    simulation never; the cutflow then has its certified step."""
    from snakehep.analysis.samples import load_samples

    config = analysis_config
    config.pop("luminosity")
    config["eras"] = {"2017": {"luminosity": 41480.0, "lumi_mask": "Cert_2017.json"},
                      "2018": {"luminosity": 59830.0}}
    config["samples"] = {
        "data_2017": {"process": "data", "era": "2017", "inputs": ["d17.root"]},
        "data_2017_rereco": {"process": "data", "era": "2017", "inputs": ["d17b.root"],
                             "lumi_mask": "Cert_2017_rereco.json"},
        "data_2018": {"process": "data", "era": "2018", "inputs": ["d18.root"]},
        **{f"{p}_2017": {"process": p, "era": "2017", "xsec": 1.0, "inputs": [f"{p}.root"]}
           for p in ("dy", "ttbar", "diboson")},
        "zprime_2017": {"process": "zprime", "era": "2017", "xsec": 1.0, "mass": 1000, "inputs": ["z.root"]},
    }
    config["plots"] = {"signals": []}
    config["demo"] = {}
    config["inference"]["fit_signal"] = "zprime_1000"
    samples = load_samples(validate(config), resolve=False)
    assert {n: s.lumi_mask for n, s in samples.items() if s.lumi_mask} == {
        "data_2017": "Cert_2017.json", "data_2017_rereco": "Cert_2017_rereco.json"}
    del config["samples"]["data_2017_rereco"]["lumi_mask"]
    config["selection"]["cuts"].append({"name": "certified", "expr": "MET_pt > 0"})
    with pytest.raises(ConfigError, match=r"the name 'certified' .*eras\.2017\.lumi_mask"):
        validate(config)
