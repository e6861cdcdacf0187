"""The workflow's results as a HEPData submission, written in HEPData's YAML format: the limits
(observed and expected band on sigma x B against the mass), every sample's cutflow, the post-fit
yields per channel, and the pyhf likelihood (background-only workspace and patchset, with its
labels and digest as pyhf writes them) as an additional resource of type HistFactory."""

from __future__ import annotations

import io as text_io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from snakehep.statistics.results import Binning, FitRecord, LimitSummary

LIKELIHOODS = "likelihoods.tar.gz"
SIGMA_LABELS = ("1 sigma", "2 sigma")


def limit_table(summary: LimitSummary, *, mass_label: str) -> dict[str, Any]:
    """Observed and expected limits on sigma x B (fb) against the mass, the band as asymmetric
    errors of the expected value (HEPData's convention for Brazil plots)."""
    points = sorted(summary.points, key=lambda p: float(p.mass or 0.0))
    qualifiers = [{"name": "CL", "value": f"{100 * summary.cl:g}%"}]
    expected = []
    for point in points:
        low2, low1, median, high1, high2 = point.xsec_limit_fb.exp
        expected.append({"value": median, "errors": [
            {"asymerror": {"minus": low1 - median, "plus": high1 - median}, "label": SIGMA_LABELS[0]},
            {"asymerror": {"minus": low2 - median, "plus": high2 - median}, "label": SIGMA_LABELS[1]}]})
    return {
        "independent_variables": [{"header": {"name": mass_label, "units": "GeV"},
                                   "values": [{"value": float(p.mass)} for p in points]}],
        "dependent_variables": [
            {"header": {"name": "Observed upper limit on $\\sigma \\times \\mathcal{B}$", "units": "fb"},
             "qualifiers": [dict(q) for q in qualifiers],
             "values": [{"value": "-" if p.xsec_limit_fb.obs is None else p.xsec_limit_fb.obs} for p in points]},
            {"header": {"name": "Expected upper limit on $\\sigma \\times \\mathcal{B}$", "units": "fb"},
             "qualifiers": [dict(q) for q in qualifiers], "values": expected},
            {"header": {"name": "Signal cross section", "units": "fb"},
             "values": [{"value": p.xsec_fb} for p in points]},
        ],
    }


def cutflow_table(cutflows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Weighted events after each cut (the first sample's order of cuts), a column per sample."""
    names = [cut["name"] for cut in cutflows[0]["cuts"]]
    return {
        "independent_variables": [{"header": {"name": "Selection step"},
                                   "values": [{"value": name} for name in names]}],
        "dependent_variables": [
            {"header": {"name": "Events"}, "qualifiers": [{"name": "Sample", "value": flow["sample"]}],
             "values": [{"value": {c["name"]: c["weighted"] for c in flow["cuts"]}[name]} for name in names]}
            for flow in cutflows
        ],
    }


def postfit_table(record: FitRecord, binning: Binning, channel: str, *, observable: str) -> dict[str, Any]:
    """Post-fit yields of one channel per bin: each process, the total with its uncertainty, data."""
    edges = binning.channels[channel]
    yields = record.yields["postfit"][channel]
    processes = [name for name in yields if name not in ("total", "data", "total_uncertainty")]
    columns = [{"header": {"name": f"Post-fit {name}"}, "values": [{"value": v} for v in yields[name]]}
               for name in processes]
    columns.append({"header": {"name": "Post-fit total"}, "values": [
        {"value": v, "errors": [{"symerror": e, "label": "post-fit"}]}
        for v, e in zip(yields["total"], yields["total_uncertainty"])]})
    columns.append({"header": {"name": "Data"}, "values": [{"value": v} for v in yields["data"]]})
    return {
        "independent_variables": [{"header": {"name": observable}, "values": [
            {"low": low, "high": high} for low, high in zip(edges[:-1], edges[1:])]}],
        "dependent_variables": columns,
    }


def likelihood_archive(output: Path, *, background_only: str | os.PathLike, patchset: str | os.PathLike,
                       readme: str) -> None:
    """BkgOnly.json, patchset.json and a README in a .tar.gz, as HEPData's likelihood records."""
    with tarfile.open(output, "w:gz") as archive:
        for path, name in ((background_only, "BkgOnly.json"), (patchset, "patchset.json")):
            archive.add(path, arcname=name)
        data = readme.encode("utf-8")
        info = tarfile.TarInfo("README.md")
        info.size = len(data)
        archive.addfile(info, text_io.BytesIO(data))


def write_submission(output: str | os.PathLike, *, tables: Sequence[tuple[str, str, dict]],
                     comment: str, likelihoods: Path) -> None:
    """The submission archive HEPData takes (``output``, a .tar.gz, written atomically):
    ``submission.yaml`` (its first document: the comment and the likelihood as an additional
    resource; then one document per table), one YAML file per table, the likelihood archive."""
    final = Path(output)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{final.name}.") as scratch:
        staging = Path(scratch)
        documents: list[dict[str, Any]] = [{
            "comment": comment,
            "additional_resources": [{
                "location": LIKELIHOODS, "type": "HistFactory",
                "description": "The pyhf likelihood: background-only workspace BkgOnly.json and the "
                               "signal patchset patchset.json (one patch per mass point)"}],
        }]
        files = ["submission.yaml"]
        for index, (name, description, table) in enumerate(tables):
            data_file = f"table{index + 1}.yaml"
            (staging / data_file).write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
            documents.append({"name": name, "description": description, "data_file": data_file,
                              "keywords": [{"name": "cmenergies", "values": [13000]}]})
            files.append(data_file)
        (staging / "submission.yaml").write_text(
            yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True), encoding="utf-8")
        shutil.copyfile(likelihoods, staging / LIKELIHOODS)
        partial = staging / final.name
        with tarfile.open(partial, "w:gz") as archive:
            for name in (*files, LIKELIHOODS):
                archive.add(staging / name, arcname=name)
        os.replace(partial, final)
