"""Benchmark: one patch of a published likelihood, CLs at mu = 1 (observed and the expected band),
snakehep versus pyhf's hypotest, on ATLAS-SUSY-2019-08 (1Lbb, 126 parameters with a patch;
tests/data/published). Each run starts from the files, as a reinterpret job's patch does: the
background-only workspace and the patchset read, the patch applied (digest checked), the model
built and checked, the fits ("snakehep": the command line's path, one patch from the files;
"job": per patch in a reinterpret job, the workspace and patchset read and checked once: the
median of a job of the 4 vendored patches minus that of a one-patch job, over 3; the start-up
printed apart). Interleaved runs; medians, rates (patches per minute) and ratio.

    python benchmarks/reinterpretation.py [--repeat 5] [--pyhf-repeat 2] [--patch C1N2_Wh_hbb_700_400]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

PUBLISHED = Path(__file__).resolve().parents[1] / "tests" / "data" / "published" / "atlas_susy_2019_08_1lbb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pyhf-repeat", type=int, default=2)
    parser.add_argument("--patch", default="C1N2_Wh_hbb_700_400")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    import pyhf
    from snakehep.statistics.limits import hypotest_workspace
    from snakehep.statistics.patches import patched_workspace

    pyhf.set_backend("numpy")
    directory = Path(tempfile.mkdtemp())
    bkg = directory / "BkgOnly.json"
    bkg.write_bytes(gzip.decompress((PUBLISHED / "BkgOnly.json.gz").read_bytes()))
    patchset = PUBLISHED / "patchset.json"

    def ours() -> list[float]:
        spec, source = patched_workspace(bkg, patchset=patchset, patch=args.patch)
        result = hypotest_workspace(spec, mu=1.0, source=source)
        return [result.cls_obs, *result.cls_exp]

    names = [p["metadata"]["name"] for p in json.loads(patchset.read_text())["patches"]]

    def job(names: list[str] = names) -> list[float]:  # a reinterpret job of the vendored patches
        from snakehep.statistics.scan import scan_patches

        points = scan_patches({}, workspace=bkg, names=names, patchset=patchset)
        (point,) = [p for p in points if p.name == args.patch] or points[:1]
        return [point.cls_obs, *point.cls_exp]

    def one_patch_job() -> list[float]:  # its start-up: (job - one-patch job) / 3 is per patch
        return job([args.patch])

    def theirs() -> list[float]:
        workspace = pyhf.PatchSet(json.loads(patchset.read_text())).apply(
            pyhf.Workspace(json.loads(bkg.read_text())), args.patch)
        model = workspace.model()
        observed, expected = pyhf.infer.hypotest(1.0, workspace.data(model), model, test_stat="qtilde",
                                                 return_expected_set=True)
        return [float(observed), *(float(e) for e in expected)]

    ours()  # one-off imports and schema loading
    runs: dict[str, list[float]] = {"snakehep": [], "job": [], "one-patch job": [], "pyhf": []}
    results = {}
    for round_ in range(max(args.repeat, args.pyhf_repeat)):
        for label, function, rounds in (("snakehep", ours, args.repeat), ("job", job, args.repeat),
                                        ("one-patch job", one_patch_job, args.repeat),
                                        ("pyhf", theirs, args.pyhf_repeat)):
            if round_ < rounds:
                start = time.perf_counter()
                results[label] = function()
                runs[label].append(time.perf_counter() - start)
    print(f"== {args.patch} (ATLAS-SUSY-2019-08 1Lbb)")
    medians = {label: statistics.median(times) for label, times in runs.items() if times}
    if "job" in medians:  # per patch in a job, without the job's start-up (files read, schema checked)
        per_patch = (medians["job"] - medians["one-patch job"]) / (len(names) - 1)
        print(f"job start-up {medians['one-patch job'] - per_patch:.2f} s, then per patch:")
        medians["job"] = per_patch
        del medians["one-patch job"]
    for label, median in medians.items():
        values = " ".join(f"{v:.6g}" for v in results[label])
        print(f"{label:8s} median {median:7.2f} s of {len(runs[label])} ({60 / median:6.1f} patches/min)  {values}")
    if "pyhf" in medians:
        rel = max(abs(a - b) / abs(b) for a, b in zip(results["snakehep"], results["pyhf"]))
        print(f"pyhf / snakehep x{medians['pyhf'] / medians['snakehep']:.1f}; max relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
