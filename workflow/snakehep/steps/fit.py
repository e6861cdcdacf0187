"""Rule fit: the maximum-likelihood fit of one mass point (pulls, post-fit yields, the fit to the
Asimov data) and the ranking of the nuisance parameters; ``snakehep fit`` and ``snakehep
ranking`` run the same fit (:func:`fit_workspace`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from snakehep.io import read_json
from snakehep.statistics.results import FitRecord, NuisanceImpact, Ranking
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

if TYPE_CHECKING:
    from snakehep.statistics.fits import FitSummary


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {}


def run(job: Job) -> None:
    fit(workspace=job.input_file(), fit_output=job.output_file("fit"),
        ranking_output=job.output_file("ranking"))


def fit_workspace(
    spec: dict,
    *,
    source: str,
    measurement: str | None = None,
    asimov: bool = False,
    rank: bool = False,
    keep_poi_bounds: bool = False,
) -> tuple[FitSummary, list[NuisanceImpact] | None]:
    """The maximum-likelihood fit of ``snakehep fit`` and ``snakehep ranking`` and of the
    workflow's fit jobs: one function, so one fit of a workspace whichever runs it.

    The POI may go below zero (as far as every bin keeps half of its background), so that a
    downward fluctuation shows in pulls, post-fit yields and impacts as a negative signal
    strength instead of a fit stuck at mu = 0; ``keep_poi_bounds``: the workspace's bounds
    (pyhf's default [0, 10]). The limits keep theirs (q~mu needs mu >= 0). ``rank``: also the
    impacts of the nuisance parameters, from the same fit; else None.
    """
    from snakehep.statistics.fits import fit_workspace
    from snakehep.statistics.ranking import fit_and_rank

    options = {"asimov": asimov, "source": source, "measurement": measurement,
               "poi_may_be_negative": not keep_poi_bounds}
    if rank:
        return fit_and_rank(spec, **options)
    return fit_workspace(spec, **options), None


def fit(*, workspace: str | os.PathLike, fit_output: str | os.PathLike,
        ranking_output: str | os.PathLike) -> None:
    """Maximum-likelihood fit of one mass point (pulls, post-fit yields), the ranking of the
    nuisance parameters by their impact on the signal strength, and the fit to the Asimov data
    (:func:`fit_workspace`, as ``snakehep fit``, ``snakehep ranking`` and ``snakehep fit --asimov``)."""
    spec, source = read_json(workspace), str(workspace)
    summary, ranking = fit_workspace(spec, source=source, rank=True)
    asimov = fit_workspace(spec, source=source, asimov=True)[0]
    FitRecord.of(summary, asimov).write(fit_output)
    Ranking(tuple(ranking)).write(ranking_output)
