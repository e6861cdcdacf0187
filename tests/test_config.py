import copy

import pytest
import yaml
from snakehep.analysis.config import SCHEMA_PATH, load_config, validate
from snakehep.errors import ConfigError
from snakemake.utils import validate as snakemake_validate


def write(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_default_config_is_valid_and_defaults_are_filled(default_config):
    assert default_config["selection"]["step_size"] == 200000
    assert default_config["samples"]["dy_m120to400"]["kfactor"] == 1.0
    assert default_config["samples"]["ttbar"]["kfactor"] == 1.0  # filled from the schema default


def test_schema_is_accepted_by_snakemake_validate(default_config):
    snakemake_validate(dict(default_config), str(SCHEMA_PATH))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(lumi=1.0), "config key <top level>: Additional properties are not allowed ('lumi'"),
        (lambda c: c.update(luminosity="ten"), "config key luminosity: 'ten' is not of type 'number'"),
        (lambda c: c.update(luminosity=-1), "config key luminosity: -1 is less than or equal to the minimum"),
        (lambda c: c["samples"]["ttbar"].update(xsec="9.7"), "config key samples.ttbar.xsec"),
        (lambda c: c["samples"]["ttbar"].pop("inputs"), "config key samples.ttbar: 'inputs' is a required property"),
        (lambda c: c["selection"]["cuts"][0].update(name="bad name"), "config key selection.cuts.0.name"),
        (lambda c: c["demo"].update(compression="GZIP:1"), "config key demo.compression"),
        (lambda c: c["histograms"]["met"].pop("bins"), "config key histograms.met"),
        (lambda c: c["processes"]["dy"].update(kind="bkg"), "config key processes.dy.kind"),
    ],
)
def test_schema_errors_name_the_key(analysis_config, edit, message):
    edit(analysis_config)
    with pytest.raises(ConfigError) as error:
        validate(analysis_config)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["samples"]["ttbar"].update(process="top"), "samples.ttbar.process: unknown process 'top'"),
        (lambda c: c["samples"]["ttbar"].pop("xsec"), "samples.ttbar.xsec: simulated samples need a cross section"),
        (lambda c: c["samples"]["zprime_500"].pop("mass"), "samples.zprime_500.mass: signal samples need a mass"),
        (lambda c: c["scale_factors"]["btag"]["values"].pop(), "scale_factors.btag.values: 7 entries for 8 bins"),
        (lambda c: c["scale_factors"]["btag"].update(object="bjet"), "scale_factors.btag.object: unknown object 'bjet'"),
        (lambda c: c["variations"]["weight"].append("pileup"), "variations.weight: 'pileup' is not a key of scale_factors"),
        (lambda c: c["histograms"]["mll"]["edges"].append(10), "histograms.mll.edges: must increase strictly"),
        (lambda c: c["selection"]["cuts"].append({"name": "SR", "expr": "True"}), "names must be unique, repeated: SR"),
        (lambda c: c["demo"].update(inject_signal={"sample": "zp", "mu": 1}), "demo.inject_signal.sample: unknown sample 'zp'"),
        (lambda c: c["plots"].update(signals=["zprime_5"]), "plots.signals: unknown sample 'zprime_5'"),
        (lambda c: c["inference"].update(observable="mjj"), "inference.observable: 'mjj' is not a histogram"),
        (lambda c: c["inference"]["channels"].append("VR"), "inference.channels: 'VR' is not a region"),
        (lambda c: c["inference"]["backgrounds"].update(data={}), "inference.backgrounds.data: not a background"),
        (lambda c: c["inference"]["systematics"].update(jes=["histosys"]), "inference.systematics.jes: not a weight or shape"),
        (lambda c: c["inference"].update(fit_signal="ttbar"), "inference.fit_signal: 'ttbar' is not a signal sample"),
        (lambda c: c["demo"]["mass_ranges"].update(dy=[1, 2]), "demo.mass_ranges.dy: unknown sample"),
    ],
)
def test_reference_errors_name_the_key(analysis_config, edit, message):
    edit(analysis_config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate(analysis_config)


def test_load_config_names_the_file(tmp_path, analysis_config):
    analysis_config["luminosity"] = 0
    path = write(tmp_path, analysis_config)
    with pytest.raises(ConfigError, match=rf"{path}: invalid configuration:\n  config key luminosity"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("samples: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(tmp_path / "broken.yaml")


def test_process_without_samples_is_an_error_naming_it(analysis_config):
    analysis_config["samples"].pop("diboson")
    with pytest.raises(ConfigError, match=r"processes.diboson: no sample has this process"):
        validate(analysis_config)


def test_config_files_layer_as_snakemakes_configfiles():
    """merged_config (the notebook's reading of config/config.yaml plus --configfile files) gives
    what snakemake's own update_config gives."""
    from snakemake.utils import update_config

    from snakehep.analysis.config import merged_config

    base = {"luminosity": 10000.0, "demo": {"seed": 1, "events_per_file": 20000},
            "plots": {"signals": ["a", "b"]}, "samples": {"x": {"xsec": 1.0, "inputs": ["p"]}}}
    layer = {"luminosity": 1000.0, "demo": {"events_per_file": 1500}, "plots": {"signals": ["c"]},
             "samples": {"x": {"inputs": ["q", "r"]}, "y": {"xsec": 2.0}}}
    expected = copy.deepcopy(base)
    update_config(expected, layer)
    merged = merged_config(base, layer)
    assert merged == expected and merged["demo"] == {"seed": 1, "events_per_file": 1500}
    merged["samples"]["x"]["inputs"].append("s")
    assert layer["samples"]["x"]["inputs"] == ["q", "r"]  # a copy, not the layer's lists
