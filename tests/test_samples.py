import pytest
from snakehep.analysis.samples import Sample, load_samples
from snakehep.errors import ConfigError, InputFileError


def test_globs_expand_in_order_and_plain_paths_are_kept(tmp_path, analysis_config):
    for name in ("b.root", "a.root", "c.txt"):
        (tmp_path / name).touch()
    analysis_config["samples"]["ttbar"]["inputs"] = [str(tmp_path / "*.root"), "later/made.root"]
    sample = load_samples(analysis_config)["ttbar"]
    assert sample.inputs == (str(tmp_path / "a.root"), str(tmp_path / "b.root"), "later/made.root")


def test_a_pattern_matching_nothing_names_the_sample(tmp_path, analysis_config):
    analysis_config["samples"]["ttbar"]["inputs"] = [str(tmp_path / "*.root")]
    with pytest.raises(ConfigError, match=r"samples.ttbar.inputs\[0\]: .*\*.root' matches no file"):
        load_samples(analysis_config)


def test_one_pattern_matching_nothing_is_an_error_even_beside_others(tmp_path, analysis_config):
    """Running on the files of the other patterns would silently lose data."""
    (tmp_path / "a.root").touch()
    analysis_config["samples"]["ttbar"]["inputs"] = [str(tmp_path / "a.root"), str(tmp_path / "b*.root")]
    with pytest.raises(ConfigError, match=r"samples.ttbar.inputs\[1\]: .*b\*.root' matches no file"):
        load_samples(analysis_config)


def test_groups_and_normalisation(analysis_config):
    samples = load_samples(analysis_config)
    assert samples["dy_m400to800"].group == "dy"  # slices add up to their process
    assert samples["zprime_1000"].group == "zprime_1000"  # each mass point stays apart
    assert samples["data"].normalisation(luminosity=10.0, sum_genweights=3.0) == 1.0
    ttbar = Sample("ttbar", "ttbar", "background", ("f",), xsec=2.0, kfactor=1.5)
    assert ttbar.normalisation(luminosity=100.0, sum_genweights=60.0) == pytest.approx(5.0)
    given = Sample("ttbar", "ttbar", "background", ("f",), xsec=2.0, sum_genweights=30.0)
    assert given.normalisation(luminosity=100.0, sum_genweights=60.0) == pytest.approx(200.0 / 30.0)
    with pytest.raises(InputFileError, match="sample ttbar: the sum of generator weights is zero"):
        ttbar.normalisation(luminosity=1.0, sum_genweights=0.0)
