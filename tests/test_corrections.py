"""Config ``corrections``: weights from correctionlib files on real CMS NanoAOD, checked against
correctionlib's own ``evaluate`` called event by event on the values read with uproot; the errors
that name the config key and the file; the selection job's params and inputs."""

from __future__ import annotations

import copy
import gzip
import json
import math
import shutil

import awkward as ak
import correctionlib
import correctionlib.schemav2 as schema
import numpy as np
import pytest
import uproot
from snakehep.analysis.config import validate
from snakehep.analysis.samples import Sample, load_samples
from snakehep.errors import ConfigError, ExpressionError, InputFileError
from snakehep.selection.processing import compile_analysis, process_file
from snakehep.steps import select
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

SF2D = "scalefactors_Tight_Electron"  # coffea's testSF2d.corr.json.gz: (eta, pt), no systematic
JER = "Summer22_22Sep2023_JRV1_MC_ScaleFactor_AK4PFPuppi"  # CMS JME: (JetEta, JetPt, nom/up/down)
PILEUP = "Collisions18_UltraLegacy_goldenJSON"  # as the LUM POG's puWeights.json.gz names it
PILEUP_EDGES = [0.0, 10.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 80.0]
PILEUP_WEIGHTS = {"nominal": [0.4, 0.8, 1.1, 1.3, 1.2, 0.9, 0.6, 0.3],
                  "up": [0.5, 0.9, 1.0, 1.2, 1.25, 1.0, 0.7, 0.4],
                  "down": [0.3, 0.7, 1.2, 1.4, 1.1, 0.8, 0.5, 0.2]}

SELECTION = {
    "objects": {
        "muons": {"collection": "Muon", "where": "pt > 3 and abs(eta) < 2.4"},
        "jets": {"collection": "Jet", "where": "pt > 15 and abs(eta) < 4.7"},
    },
    "cuts": [{"name": "one_jet", "expr": "count(jets) >= 1"}],
}
HISTOGRAMS = {"n_jets": {"expr": "count(jets)", "label": "jets", "bins": 40, "start": -0.5, "stop": 39.5}}


def pileup_file(path, *, edges=PILEUP_EDGES, flow="clamp") -> str:
    """A pileup-weight file in the layout of the LUM POG's puWeights.json.gz (inputs
    NumTrueInteractions and weights: nominal, up, down), written with correctionlib's schema."""
    content = [
        schema.CategoryItem(key=key, value=schema.Binning(
            nodetype="binning", input="NumTrueInteractions", edges=edges,
            content=values[: len(edges) - 1], flow=flow))
        for key, values in PILEUP_WEIGHTS.items()
    ]
    correction = schema.Correction(
        name=PILEUP, version=0, description="pileup weights",
        inputs=[schema.Variable(name="NumTrueInteractions", type="real"),
                schema.Variable(name="weights", type="string", description="nominal, up, down")],
        output=schema.Variable(name="weight", type="real"),
        data=schema.Category(nodetype="category", input="weights", content=content),
    )
    corrections = schema.CorrectionSet(schema_version=2, corrections=[correction])
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write(corrections.model_dump_json(exclude_unset=True))
    return str(path)


@pytest.fixture
def config(analysis_config, nanoaod_files, tmp_path) -> dict:
    """Two corrections per object (one with up and down), two per event (one with up and down)."""
    analysis_config["selection"] = copy.deepcopy(SELECTION)
    analysis_config["histograms"] = copy.deepcopy(HISTOGRAMS)
    analysis_config["scale_factors"] = {}
    analysis_config["corrections"] = {
        "muon_sf": {"file": str(nanoaod_files["testSF2d.corr.json.gz"]), "correction": SF2D,
                    "object": "muons", "inputs": ["eta", "pt"]},
        "jer": {"file": str(nanoaod_files["jet_jerc_Summer22_V3.json.gz"]), "correction": JER,
                "object": "jets", "inputs": ["eta", "pt", "nom"],
                "systematic": {"input": "systematic", "up": "up", "down": "down"}},
        "leading_muon_sf": {"file": str(nanoaod_files["testSF2d.corr.json.gz"]), "correction": SF2D,
                            "inputs": ["muons[0].eta", "muons[0].pt"]},
        "pileup": {"file": pileup_file(tmp_path / "puWeights.json.gz"), "correction": PILEUP,
                   "inputs": ["Pileup_nTrueInt", "nominal"],
                   "systematic": {"input": "weights", "up": "up", "down": "down"}},
    }
    analysis_config["variations"] = {"weight": ["jer", "pileup"], "shape": {}}
    analysis_config["inference"].update(
        observable="n_jets", channels=["selected"],
        systematics={"jer": ["normsys", "histosys"], "pileup": ["histosys"]})
    return validate(analysis_config)


def product(values) -> float:
    """Left to right, as the job multiplies an event's objects."""
    result = 1.0
    for value in values:
        result *= value
    return result


def expected_weights(config: dict, path) -> dict[str, float]:
    """Sums of the weights of the selected events per variation, each factor from correctionlib's
    ``evaluate`` called for one muon, jet or event at a time."""
    sets = {name: correctionlib.CorrectionSet.from_file(entry["file"])[entry["correction"]]
            for name, entry in config["corrections"].items()}
    events = uproot.open(path)["Events"].arrays(
        ["genWeight", "Muon_pt", "Muon_eta", "Jet_pt", "Jet_eta", "Pileup_nTrueInt"])
    sums = {"nominal": [], "jer_up": [], "jer_down": [], "pileup_up": [], "pileup_down": []}
    n_selected = 0
    for event in ak.to_list(events):
        muons = [(eta, pt) for pt, eta in zip(event["Muon_pt"], event["Muon_eta"]) if pt > 3 and abs(eta) < 2.4]
        jets = [(eta, pt) for pt, eta in zip(event["Jet_pt"], event["Jet_eta"]) if pt > 15 and abs(eta) < 4.7]
        if not jets:
            continue
        n_selected += 1
        jer, pileup = sets["jer"], sets["pileup"]
        factors = {
            "muon_sf": {"nominal": product(sets["muon_sf"].evaluate(eta, pt) for eta, pt in muons)},
            "jer": {key: product(jer.evaluate(eta, pt, file_key) for eta, pt in jets)
                    for key, file_key in (("nominal", "nom"), ("up", "up"), ("down", "down"))},
            "leading_muon_sf": {"nominal": sets["leading_muon_sf"].evaluate(*muons[0]) if muons else 1.0},
            "pileup": {key: pileup.evaluate(event["Pileup_nTrueInt"], key) for key in ("nominal", "up", "down")},
        }
        for variation, weights in sums.items():
            weight = float(event["genWeight"])
            for name, values in factors.items():  # in the config's order, as the job multiplies
                weight *= values[variation.rpartition("_")[2] if variation.startswith(f"{name}_") else "nominal"]
            weights.append(weight)
    assert n_selected > 10  # the check is not vacuous
    return {variation: math.fsum(weights) for variation, weights in sums.items()}


def test_correction_weights_equal_correctionlib_event_by_event(config, nanoaod_files, kernel):
    path = nanoaod_files["nano_dy.root"]
    config["selection"]["kernel"] = kernel
    config["selection"]["step_size"] = 7  # several chunks
    sample = Sample("dy", "dy", "background", ("x",), xsec=1.0)
    result = process_file(compile_analysis(config), sample, str(path))

    expected = expected_weights(config, path)
    got = {key[2]: math.fsum(bins.values) for key, bins in result.histograms.items()}
    assert set(got) == set(expected)
    for variation, value in expected.items():
        assert got[variation] == pytest.approx(value, rel=1e-12, abs=1e-9), variation
    assert result.cutflow[1]["weighted"] == pytest.approx(expected["nominal"], rel=1e-12)
    # every factor matters: up and down differ from nominal, and from each other
    assert len({round(value, 6) for value in got.values()}) == 5


def test_compound_correction_with_an_event_quantity_per_object(config, nanoaod_files, kernel):
    """The JME compound correction L1L2L3Res per jet, of its raw pT, jet area and the event's
    rho (one value per event, the same for each of its jets)."""
    name = "Summer22_22Sep2023_V3_MC_L1L2L3Res_AK4PFPuppi"
    path = nanoaod_files["nano_dy.root"]
    config["selection"]["kernel"] = kernel
    config["corrections"] = {"jec": {
        "file": str(nanoaod_files["jet_jerc_Summer22_V3.json.gz"]), "correction": name, "object": "jets",
        "inputs": ["area", "eta", "pt * (1 - rawFactor)", "fixedGridRhoFastjetAll"]}}
    config["variations"]["weight"] = []
    config["inference"]["systematics"] = {}
    result = process_file(compile_analysis(validate(config)), Sample("dy", "dy", "background", ("x",), xsec=1.0),
                          str(path))

    jec = correctionlib.CorrectionSet.from_file(config["corrections"]["jec"]["file"]).compound[name]
    events = ak.to_list(uproot.open(path)["Events"].arrays(
        ["genWeight", "Jet_pt", "Jet_eta", "Jet_area", "Jet_rawFactor", "fixedGridRhoFastjetAll"]))
    weights = []
    for event in events:
        weight, n_jets = float(event["genWeight"]), 0
        for pt, eta, area, raw in zip(event["Jet_pt"], event["Jet_eta"], event["Jet_area"], event["Jet_rawFactor"]):
            if pt > 15 and abs(eta) < 4.7:
                n_jets += 1
                weight *= jec.evaluate(area, eta, pt * (1 - raw), event["fixedGridRhoFastjetAll"])
        if n_jets:
            weights.append(weight)
    assert len(weights) > 10
    assert result.cutflow[1]["weighted"] == pytest.approx(math.fsum(weights), rel=1e-12)


def test_missing_leading_object_gives_factor_one(config, nanoaod_files):
    """Events without a selected muon keep their weight under a per-event correction of
    muons[0]: alone, it gives the sum of genWeight over the events without muons."""
    config["corrections"] = {"leading_muon_sf": config["corrections"]["leading_muon_sf"]}
    config["variations"]["weight"] = []
    config["inference"]["systematics"] = {}
    config["selection"]["cuts"] = [{"name": "no_muon", "expr": "count(muons) == 0"}]
    path = nanoaod_files["nano_dy.root"]
    result = process_file(compile_analysis(validate(config)), Sample("dy", "dy", "background", ("x",), xsec=1.0),
                          str(path))
    events = uproot.open(path)["Events"].arrays(["genWeight", "Muon_pt", "Muon_eta"])
    without = [float(w) for w, pts, etas in zip(events.genWeight, events.Muon_pt, events.Muon_eta)
               if not any(pt > 3 and abs(eta) < 2.4 for pt, eta in zip(pts, etas))]
    assert result.cutflow[1]["weighted"] == pytest.approx(math.fsum(without), rel=1e-12)


# ------------------------------------------------------------------------------------- errors


def compile_error(config, edit):
    edit(config["corrections"])
    return compile_analysis(config)


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda c: c["muon_sf"].update(correction="NUM_TightID_DEN_TrackerMuons"), ConfigError,
         (r"corrections\.muon_sf\.correction: .*testSF2d\.corr\.json\.gz has no correction "
          r"'NUM_TightID_DEN_TrackerMuons' \(it has: scalefactors_Tight_Electron\)")),
        (lambda c: c["muon_sf"].update(inputs=["abs(eta)"]), ConfigError,
         (r"corrections\.muon_sf\.inputs: 1 given, but correction 'scalefactors_Tight_Electron' of "
          r".*testSF2d\.corr\.json\.gz takes 2: axis0 \(real\), axis1 \(real\)")),
        (lambda c: c["jer"].update(inputs=["eta", "pt"]), ConfigError,
         r"corrections\.jer\.inputs: 2 given, .*jet_jerc_Summer22_V3\.json\.gz takes 3: .*systematic \(string\)"),
        (lambda c: c["jer"].update(inputs=["eta", "pt", 1]), ConfigError,
         (r"corrections\.jer\.inputs\[2\]: input 'systematic' of correction .* of .*jet_jerc_Summer22_V3"
          r"\.json\.gz is string: give its text, quoted")),
        (lambda c: c["jer"]["systematic"].update(input="JetPt"), ConfigError,
         r"corrections\.jer\.systematic\.input: input 'JetPt' .* is real, not a string input"),
        (lambda c: c["jer"]["systematic"].update(input="variation"), ConfigError,
         r"corrections\.jer\.systematic\.input: correction .* has no input 'variation'"),
        (lambda c: c["pileup"].update(file="no/such/puWeights.json.gz"), InputFileError,
         r"corrections\.pileup\.file: no such file 'no/such/puWeights\.json\.gz'"),
    ],
)
def test_errors_found_when_compiled_name_key_and_file(config, edit, error, message):
    with pytest.raises(error, match=message):
        compile_error(config, edit)


def test_a_file_that_is_not_a_correction_set_names_key_and_file(config, nanoaod_files):
    config["corrections"]["pileup"]["file"] = str(nanoaod_files["testpu.pileup.json"])  # not correctionlib's
    with pytest.raises(InputFileError, match=r"corrections\.pileup\.file: .*testpu\.pileup\.json is not a "
                                             r"correctionlib file"):
        compile_analysis(config)


def run_on_dy(config, nanoaod_files):
    sample = Sample("dy", "dy", "background", ("x",), xsec=1.0)
    return process_file(compile_analysis(config), sample, str(nanoaod_files["nano_dy.root"]))


def test_input_outside_the_domain_names_key_file_and_sample(config, nanoaod_files, tmp_path):
    """A pileup profile up to 30 interactions whose file says to refuse others: nano_dy.root has
    events with more."""
    config["corrections"]["pileup"]["file"] = pileup_file(
        tmp_path / "short.json.gz", edges=PILEUP_EDGES[:5], flow="error")
    with pytest.raises(ConfigError, match=(
            r"corrections\.pileup: correction 'Collisions18_UltraLegacy_goldenJSON' of .*short\.json\.gz "
            r"refused its inputs \(NumTrueInteractions=\d+ values in \[.*\], weights='nominal'\): "
            r"Index above bounds .*\(sample dy, file .*nano_dy\.root\)")):
        run_on_dy(config, nanoaod_files)


def test_systematic_key_the_file_lacks_names_key_and_file(config, nanoaod_files):
    config["corrections"]["jer"]["inputs"][2] = "nominal"  # JME's files say nom
    with pytest.raises(ConfigError, match=r"corrections\.jer: correction .* of .*jet_jerc_Summer22_V3"
                                          r"\.json\.gz refused its inputs .*systematic='nominal'.*Category"):
        run_on_dy(config, nanoaod_files)


def test_input_of_the_wrong_type_names_the_input(config, nanoaod_files):
    config["corrections"]["muon_sf"]["inputs"][1] = "pt > 10"
    with pytest.raises(ExpressionError, match=r"corrections\.muon_sf\.inputs\[1\]: expression 'pt > 10': "
                                              r"input 'axis1' .* is real: the expression must give a number"):
        run_on_dy(config, nanoaod_files)
    config["corrections"]["muon_sf"]["inputs"][1] = "pt"
    config["corrections"]["pileup"]["inputs"][0] = "Jet_pt"
    with pytest.raises(ExpressionError, match=r"corrections\.pileup\.inputs\[0\]: .*must give one number per event"):
        run_on_dy(config, nanoaod_files)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["variations"]["weight"].append("muon_sf"),
         "variations.weight: corrections.muon_sf has no systematic"),
        (lambda c: c["corrections"]["muon_sf"].update(object="electrons"),
         "corrections.muon_sf.object: unknown object 'electrons'"),
        (lambda c: c["scale_factors"].update(jer=c["corrections"].pop("muon_sf") and {
            "object": "jets", "variable": "pt", "edges": [0, 1], "values": [1], "uncertainties": [0]}),
         "corrections.jer: also a key of scale_factors"),
        (lambda c: c["corrections"]["jer"].pop("systematic"), "variations.weight: corrections.jer has no systematic"),
    ],
)
def test_config_references_of_corrections(config, edit, message):
    edit(config)
    with pytest.raises(ConfigError, match=message):
        validate(config)


# ------------------------------------------------------------------------- the selection job


def context_of(config) -> StepContext:
    config["samples"] = {"dy": {"process": "dy", "xsec": 1.0, "inputs": ["events/dy.root"]}}
    config["processes"] = {"dy": config["processes"]["dy"]}
    config.pop("inference", None)
    config["plots"] = {"signals": []}
    return StepContext(config, load_samples(config))


def test_configs_without_corrections_keep_their_select_params(default_config):
    context = context_of(copy.deepcopy(default_config))
    assert "corrections" not in context.config  # no schema default
    assert "corrections" not in select.params(context, {"sample": "dy", "group": "0"})["analysis"]
    assert select.input_files(context, {"sample": "dy", "group": "0"}) == ["events/dy.root"]


def test_select_job_reads_the_correction_files_it_is_given(config, nanoaod_files, tmp_path):
    """The local correction files are inputs of every selection job, after its data files; the
    job reads them where snakemake puts them (a storage provider's staged copies)."""
    expected = expected_weights(config, nanoaod_files["nano_dy.root"])
    config["corrections"]["muon_sf"]["file"] = "corrections/testSF2d.corr.json.gz"  # not here
    config["corrections"]["leading_muon_sf"]["file"] = "corrections/testSF2d.corr.json.gz"
    config["corrections"]["jer"]["file"] = "corrections/jet_jerc.json.gz"
    pileup = config["corrections"]["pileup"]["file"]
    context = context_of(config)
    wildcards = {"sample": "dy", "group": "0"}
    assert select.input_files(context, wildcards) == [
        "events/dy.root", "corrections/testSF2d.corr.json.gz", "corrections/jet_jerc.json.gz", pileup]
    params = json.loads(json.dumps(select.params(context, wildcards)))
    assert params["analysis"]["corrections"] == config["corrections"]

    staged = tmp_path / "staged"
    staged.mkdir()
    for name in ("nano_dy.root", "testSF2d.corr.json.gz", "jet_jerc_Summer22_V3.json.gz"):
        shutil.copy(nanoaod_files[name], staged / name)
    shutil.copy(pileup, staged / "pu.json.gz")
    params["inputs"] = [str(staged / "nano_dy.root")]
    output = tmp_path / "group0.npz"
    select.run(Job(params=params, input={"files": [str(staged / name) for name in (
        "nano_dy.root", "testSF2d.corr.json.gz", "jet_jerc_Summer22_V3.json.gz", "pu.json.gz")]},
        output={"files": [str(output)]}))

    with np.load(output) as data:
        header = json.loads(str(data["header"]))
        got = {entry["key"][2]: math.fsum(data[f"values{i}"].sum(axis=0))
               for i, entry in enumerate(header["histograms"])}
    assert set(got) == set(expected)
    for variation, value in expected.items():
        assert got[variation] == pytest.approx(value, rel=1e-12), variation


# ------------------------------------------------------------------------------ eras


def test_each_era_applies_its_own_correction_file(config, nanoaod_files, tmp_path):
    """eras.<era>.corrections.<name> replaces parts of a correction for the era's samples: here
    2018 reads its own pileup file (other bins); each era's select job equals correctionlib's
    evaluate on that era's corrections."""
    from snakehep.analysis.eras import with_era_corrections

    path = str(nanoaod_files["nano_dy.root"])
    config.pop("luminosity")
    own = pileup_file(tmp_path / "puWeights_2018.json.gz", edges=[0.0, 5.0, 15.0, 22.0, 28.0, 33.0, 45.0, 60.0, 99.0])
    config["eras"] = {"2017": {"luminosity": 41480.0},
                      "2018": {"luminosity": 59830.0, "corrections": {"pileup": {"file": own}}}}
    config["processes"] = {"dy": config["processes"]["dy"]}
    config["samples"] = {f"dy_{era}": {"process": "dy", "xsec": 1.0, "era": era, "inputs": [path]}
                         for era in config["eras"]}
    config.pop("inference")
    config["plots"] = {"signals": []}
    config["demo"] = {}
    config = validate(config)
    context = StepContext(config, load_samples(config))
    sums = {}
    for era, pileup in (("2017", config["corrections"]["pileup"]["file"]), ("2018", own)):
        wildcards = {"sample": f"dy_{era}", "group": "0"}
        params = json.loads(json.dumps(select.params(context, wildcards)))
        assert params["analysis"]["corrections"]["pileup"] == {**config["corrections"]["pileup"], "file": pileup}
        files = select.input_files(context, wildcards)
        assert files[0] == path and files[-1] == pileup
        output = tmp_path / f"{era}.npz"
        select.run(Job(params=params, input={"files": files}, output={"files": [str(output)]}))
        with np.load(output) as data:
            header = json.loads(str(data["header"]))
            got = {entry["key"][2]: math.fsum(data[f"values{i}"].sum(axis=0))
                   for i, entry in enumerate(header["histograms"])}
        expected = expected_weights(with_era_corrections(config, era), path)
        for variation, value in expected.items():
            assert got[variation] == pytest.approx(value, rel=1e-12), (era, variation)
        sums[era] = got["nominal"]
    assert sums["2017"] != pytest.approx(sums["2018"], rel=1e-3)  # the two files differ here


def test_era_correction_of_an_unknown_key_is_a_config_error(config):
    config.pop("luminosity")
    config["eras"] = {"2018": {"luminosity": 59830.0, "corrections": {"muon_id": {"file": "x.json"}}}}
    for sample in config["samples"].values():
        sample["era"] = "2018"
    config.pop("inference")
    config["plots"] = {"signals": []}
    with pytest.raises(ConfigError, match=r"eras\.2018\.corrections\.muon_id: not a key of corrections"):
        validate(config)
