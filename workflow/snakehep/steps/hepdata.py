"""Rule hepdata: the results as a HEPData submission archive (results/hepdata/submission.tar.gz):
limits, cutflows, post-fit yields and the pyhf likelihood as an additional resource."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    inference = context.config["inference"]
    return {"observable": context.config["histograms"][inference["observable"]]["label"],
            "channels": context.channels, "fit_signal": context.fit_signal,
            "hepdata": inference.get("hepdata"), "samples": list(context.samples)}


def run(job: Job) -> None:
    import tempfile

    from snakehep.histograms.cutflows import SampleCutflow
    from snakehep.statistics import hepdata
    from snakehep.statistics.results import Binning, FitRecord, LimitSummary

    observable = job.params["observable"]
    record, binning = FitRecord.read(job.input_file("fit")), Binning.read(job.input_file("binning"))
    tables = [("Upper limits", "Observed and expected 95% CL upper limits on the signal cross section "
               "times branching fraction against the signal mass (expected: +-1 and +-2 sigma bands).",
               hepdata.limit_table(LimitSummary.read(job.input_file("limits")), mass_label="Signal mass")),
              ("Cutflow", "Weighted events after each step of the selection, per sample.",
               hepdata.cutflow_table([SampleCutflow.read(p).to_dict() for p in job.inputs("cutflows")]))]
    tables += [(f"Post-fit yields {channel}", f"Post-fit yields in {channel} of the fit to data "
                f"({job.params['fit_signal']}), per bin of {observable}.",
                hepdata.postfit_table(record, binning, channel, observable=observable))
               for channel in job.params["channels"]]
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / hepdata.LIKELIHOODS
        hepdata.likelihood_archive(archive, background_only=job.input_file("bkgonly"),
                                   patchset=job.input_file("patchset"), readme=_README)
        hepdata.write_submission(job.output_file(), tables=tables, likelihoods=archive,
                                 comment=f"snakehep results (HEPData record {job.params['hepdata'] or 'to come'}).")


_README = """# pyhf likelihood

BkgOnly.json: the background-only workspace; patchset.json: one signal patch per mass point,
labelled by the mass, with the digest of BkgOnly.json. For example:

    pyhf cls BkgOnly.json --patch <(pyhf patchset extract patchset.json --name zprime_1000)
    snakehep hypotest BkgOnly.json --patchset patchset.json --patch zprime_1000
"""
