"""A digest of what the selection writes, to check a speed-up changes no number: SHA-256 over the
cutflow, the sum of generator weights and every histogram's values, variances and entries
(their bytes), for a Drell-Yan demo file of the benchmark config (weights, scale factors, the
muon-scale variations), a ttbar demo file (with the demo analysis and with the ttbar shape of
selection.py), and the real CMS NanoAOD files of the tests (if
cached: tests/conftest.py downloads them) with the tests' loose selection, on both kernels and
two chunk sizes.

Run it in two checkouts and compare the lines (selection_ab.sh does the timing):

    python benchmarks/selection_digest.py --events 50000
    python benchmarks/selection_digest.py --events 50000 --threads 2   # the same lines
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]

from selection import SAMPLES, benchmark_config, input_file  # noqa: E402
from snakehep.analysis.samples import Sample, load_samples  # noqa: E402
from snakehep.demo import generator as demo  # noqa: E402
from snakehep.selection.processing import KERNELS, compile_analysis, process_file  # noqa: E402
from test_processing import LOOSE_SELECTION  # noqa: E402  (the tests' selection of real files)

NANOAOD = Path.home() / ".cache" / "snakehep-tests" / "coffea-samples"
SIMULATION = Sample("mc", "ttbar", "background", ("x",), xsec=1.0)


def digest(result) -> str:
    hashed = hashlib.sha256(repr(result.cutflow).encode())
    hashed.update(np.float64(result.sum_genweights).tobytes())
    for key in sorted(result.histograms):
        bins = result.histograms[key]
        hashed.update(repr(key).encode())
        hashed.update(np.ascontiguousarray(bins.values, dtype=np.float64).tobytes())
        hashed.update(np.ascontiguousarray(bins.variances, dtype=np.float64).tobytes())
        hashed.update(str(bins.entries).encode())
    return hashed.hexdigest()[:16]


def inputs(events: int, workdir: Path):
    """(label, config, sample, path) of every input to digest."""
    analysis = benchmark_config(events)
    dimuon = SAMPLES["dimuon"]
    yield ("drell-yan", analysis, load_samples(analysis)[dimuon],
           input_file(analysis, dimuon, "ZSTD:5", workdir))
    ttbar = copy.deepcopy(analysis)
    path = workdir / f"ttbar_{events}.root"
    if not path.exists():
        demo.generate_sample_part(ttbar, sample="ttbar", part=0, output=path)
    yield "ttbar", ttbar, load_samples(ttbar)["ttbar"], path
    shape = benchmark_config(events, "ttbar")  # jets, b-tags, MET; a jet energy scale shift
    yield "ttbar shape of selection.py", shape, load_samples(shape)["ttbar"], path
    real = copy.deepcopy(analysis)
    real["selection"] = copy.deepcopy(LOOSE_SELECTION)
    real["variations"] = {"weight": ["muon_id"],
                          "shape": {"muon_scale": {"branch": "Muon_pt", "relative": 0.01}}}
    real["scale_factors"] = {"muon_id": real["scale_factors"]["muon_id"]}
    for name in ("nano_dy.root", "nano_dy_rntuple.root", "nano_tt_v12.root"):
        if (NANOAOD / name).exists():
            yield f"nanoaod {name}", real, SIMULATION, NANOAOD / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per demo file")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / ".data")
    parser.add_argument("--threads", type=int, default=1,
                        help="the job's CPUs (chunks selected in parallel): digests must not change")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for label, analysis, sample, path in inputs(args.events, args.workdir):
        compiled = compile_analysis(analysis)
        for name, kernel in KERNELS.items():
            for step_size in (None, 7_777):
                try:
                    result = digest(process_file(compiled, sample, str(path), kernel=kernel,
                                                 step_size=step_size, threads=args.threads))
                except Exception as err:  # a real file without a branch the demo analysis needs
                    result = f"error: {type(err).__name__}"
                print(f"{label:<40} {name:<8} step {step_size or 'config'}: {result}", flush=True)


if __name__ == "__main__":
    main()
