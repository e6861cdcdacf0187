"""File grouping and hierarchical merges: the job plan, exact partial sums, and results identical
to one job per file merged in one step, whatever the grouping and the fan-in."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sample_sums import normalise_sample
from snakehep.analysis import batch
from snakehep.analysis.samples import load_samples
from snakehep.demo.generator import generate_sample_part
from snakehep.errors import ConfigError, InputFileError
from snakehep.histograms.partials import Exact, Partial
from snakehep.histograms.store import read_store
from snakehep.selection.processing import (
    compile_analysis,
    process_file,
)
from snakehep.steps.merge_partials import merge_partials
from snakehep.steps.merge_sample import merge_sample
from snakehep.steps.select import select_group


def test_ten_thousand_files_make_a_thousand_jobs_and_a_bounded_tree():
    files = [f"f{i}.root" for i in range(10_000)]
    plan = batch.plan_sample("s", files, batch.BatchSettings(files_per_job=10, merge_fan_in=16))
    assert len(plan.groups) == 1000 and all(len(g) == 10 for g in plan.groups)
    assert [f for g in plan.groups for f in g] == files
    assert plan.level_sizes == (1000, 63, 4)
    children = [c for level in (1, 2) for i in range(plan.level_sizes[level])
                for c in plan.children(level, i)]
    assert all(len(plan.children(level, i)) <= 16 for level in (1, 2)
               for i in range(plan.level_sizes[level]))
    # every partial result below the top is merged exactly once
    expected = [plan.path(level, i) for level in (0, 1) for i in range(plan.level_sizes[level])]
    assert sorted(children) == sorted(expected)
    assert plan.top() == [batch.merge_path("s", 2, i) for i in range(4)]
    assert plan.n_jobs == 1067


def test_the_default_suits_a_batch_system(default_config):
    """The schema's defaults (the shipped config sets none): 10,000 files, at most 1,000 jobs."""
    settings = batch.BatchSettings.from_config(default_config)
    assert settings == batch.BatchSettings()
    plan = batch.plan_sample("s", [f"f{i}" for i in range(10_000)], settings)
    assert len(plan.groups) == 500 <= 1000 and plan.level_sizes == (500, 32, 2)


def test_small_samples_need_no_merge_job_and_settings_are_checked():
    plan = batch.plan_sample("s", ["a", "b", "c"], batch.BatchSettings())
    assert plan.level_sizes == (1,) and plan.top() == [batch.group_path("s", 0)]
    with pytest.raises(ConfigError, match="batch.merge_fan_in"):
        batch.BatchSettings.from_config({"batch": {"merge_fan_in": 1}})
    with pytest.raises(ConfigError, match="batch.files_per_job"):
        batch.BatchSettings.from_config({"batch": {"files_per_job": 0}})
    with pytest.raises(KeyError):
        plan.children(1, 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1,
                max_size=40), st.integers(min_value=1, max_value=7), st.randoms())
def test_exact_sums_do_not_depend_on_the_grouping(values, size, rng):
    """However the values are cut into groups and the groups added, rounding once at the end
    gives math.fsum of all values."""
    groups = [values[i : i + size] for i in range(0, len(values), size)]
    partials = []
    for group in groups:
        exact = Exact(1)
        for value in group:
            exact.add(np.array([value]))
        partials.append(exact)
    rng.shuffle(partials)
    while len(partials) > 1:  # pairwise, in a random tree
        a, b = partials.pop(), partials.pop()
        a.add(b.array())
        partials.insert(rng.randrange(len(partials) + 1), a)
    assert partials[0].rounded()[0] == math.fsum(values)


def test_exact_sum_keeps_what_naive_sums_lose():
    exact = Exact(1)
    for value in (1e16, 1.0, -1e16, 1.0):
        exact.add(np.array([value]))
    assert exact.rounded()[0] == 2.0


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory, default_config):
    """Five small demo files of one Drell-Yan slice and one of data."""
    directory = tmp_path_factory.mktemp("demo")
    config = json.loads(json.dumps(default_config))
    config["demo"]["events_per_file"] = 600
    paths = [directory / f"dy{i}.root" for i in range(5)]
    for i, path in enumerate(paths):
        generate_sample_part(config, sample="dy_m120to400", part=i, output=path)
    data = directory / "data0.root"
    generate_sample_part(config, sample="data", part=0, output=data)
    return [str(p) for p in paths], str(data)


def _run_tree(config, sample, files, workdir, *, files_per_job, fan_in):
    """What the workflow's jobs do for one sample: select groups, merge level by level, then
    merge_sample. Returns the final histograms and cutflow."""
    plan = batch.plan_sample(sample.name, files, batch.BatchSettings(files_per_job, fan_in))
    for index, group in enumerate(plan.groups):
        select_group(config, sample=sample, inputs=group, output=workdir / plan.path(0, index))
    for level in range(1, len(plan.level_sizes)):
        for index in range(plan.level_sizes[level]):
            merge_partials(sample=sample.name,
                                  inputs=[workdir / p for p in plan.children(level, index)],
                                  output=workdir / plan.path(level, index))
    merge_sample(sample=sample, luminosity=float(config["luminosity"]),
                        partials=[workdir / p for p in plan.top()],
                        histogram_output=workdir / "out.root", cutflow_output=workdir / "out.json")
    return read_store(workdir / "out.root"), json.loads((workdir / "out.json").read_text())["cuts"]


@pytest.mark.parametrize("files_per_job,fan_in", [(1, 16), (1, 2), (2, 2), (3, 2), (5, 4)])
def test_grouped_jobs_and_merge_trees_equal_one_job_per_file(
    demo_files, analysis_config, tmp_path, files_per_job, fan_in
):
    files, _ = demo_files
    analysis_config["samples"]["dy_m120to400"]["inputs"] = files
    sample = load_samples(analysis_config)["dy_m120to400"]
    # the reference: one job per file, all files merged in one step (math.fsum per bin)
    compiled = compile_analysis(analysis_config)
    per_file = [process_file(compiled, sample, path) for path in files]
    reference, reference_cutflow, _ = normalise_sample(
        sample, per_file, luminosity=float(analysis_config["luminosity"]))
    histograms, cutflow = _run_tree(analysis_config, sample, files, tmp_path,
                                    files_per_job=files_per_job, fan_in=fan_in)
    assert cutflow == reference_cutflow  # raw and weighted, to the last bit
    assert set(histograms) == set(reference)
    for key, bins in reference.items():
        assert np.array_equal(histograms[key].values, bins.values), key
        assert np.array_equal(histograms[key].variances, bins.variances), key
        assert histograms[key].entries == bins.entries, key
    assert reference_cutflow[-2]["raw"] > 0  # not vacuous


def test_data_sample_and_a_foreign_partial_result(demo_files, analysis_config, tmp_path):
    _, data = demo_files
    analysis_config["samples"]["data"]["inputs"] = [data]
    sample = load_samples(analysis_config)["data"]
    select_group(analysis_config, sample=sample, inputs=[data], output=tmp_path / "d.npz")
    partial = Partial.read(tmp_path / "d.npz")
    assert partial.sample == "data" and partial.n_files == 1 and partial.raw[0] > 0
    assert partial.inputs == [data]
    assert {key[2] for key in partial.histograms} == {"nominal"}
    with pytest.raises(InputFileError, match="holds sample data, expected ttbar"):
        merge_partials(sample="ttbar", inputs=[tmp_path / "d.npz"], output=tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    (tmp_path / "bad.npz").write_bytes(b"not a partial result")
    with pytest.raises(InputFileError, match="bad.npz: cannot read partial result"):
        Partial.read(tmp_path / "bad.npz")


def test_a_merge_holds_one_input_at_a_time(demo_files, analysis_config, tmp_path, monkeypatch):
    """Bounded memory: merge_partials reads its inputs one by one into a running total."""
    files, _ = demo_files
    analysis_config["samples"]["dy_m120to400"]["inputs"] = files
    sample = load_samples(analysis_config)["dy_m120to400"]
    paths = []
    for i, path in enumerate(files):
        paths.append(tmp_path / f"g{i}.npz")
        select_group(analysis_config, sample=sample, inputs=[path], output=paths[-1])
    alive: list[int] = []
    peak = [0]
    original = Partial.read.__func__

    class Counted(Partial):
        def __del__(self):
            alive.pop()

    def counting_read(cls, path):
        result = original(Counted, path)
        alive.append(1)
        peak[0] = max(peak[0], len(alive))
        return result

    monkeypatch.setattr(Partial, "read", classmethod(counting_read))
    random.seed(1)
    merge_partials(sample=sample.name, inputs=paths, output=tmp_path / "m.npz")
    assert peak[0] <= 2  # the running total and the input being added


@pytest.mark.parametrize("sample", ["data", "dy_m120to400", "zprime_1000"])
def test_demo_files_from_their_settings_alone_equal_those_from_the_whole_config(
    default_config, tmp_path, sample
):
    """The demo rule is given only generation_settings(); the file must be the same."""
    import uproot
    from snakehep.demo.settings import generation_settings

    config = json.loads(json.dumps(default_config))
    config["demo"]["events_per_file"] = 300
    config["luminosity"] = 50.0
    settings = generation_settings(config, sample)
    assert settings == generation_settings(json.loads(json.dumps(config)), sample)
    assert "xsec" not in json.dumps(settings) or sample == "data"
    generate_sample_part(config, sample=sample, part=0, output=tmp_path / "full.root")
    generate_sample_part(settings, sample=sample, part=0, output=tmp_path / "reduced.root")
    with uproot.open(tmp_path / "full.root") as full, uproot.open(tmp_path / "reduced.root") as reduced:
        a, b = full["Events"].arrays(library="np"), reduced["Events"].arrays(library="np")
        assert a.keys() == b.keys() and len(a["event"]) > 0
        for name in a:
            assert all(np.array_equal(x, y) for x, y in zip(a[name], b[name])), name
