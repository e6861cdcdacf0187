"""Demo-data generator: fast, vectorised toy simulation written as CMS-NanoAOD-like ROOT files.

This module owns the sample and file level: :func:`simulate_process` (truth, detector and the
event record of one process), the seeds and random streams of a file, the expected events of
the pseudo-data and their components, :func:`emulate_data_efficiencies`,
:func:`generate_sample_part` and :func:`generate_demo_inputs`. The pieces:
:mod:`~snakehep.demo.kinematics` (four-vectors, decays, shapes), :mod:`~snakehep.demo.truth`
(the processes at generator level), :mod:`~snakehep.demo.detector` (reconstruction, NanoAOD
precision) and :mod:`~snakehep.demo.nanoaod` (the ROOT files).

Files are seeded from ``(demo.seed, crc32(sample), part)`` so the content is reproducible.

Pseudo-data are the same simulation with data efficiencies that differ from the simulated ones
by the configured ``scale_factors``: a ``highPtId == 2`` muon keeps its ID with probability
``muon_id`` SF(|eta|), a jet above the b-tag working point keeps its tag with probability
``btag`` SF(pT) (see :func:`emulate_data_efficiencies`), so data agree with simulation once the
analysis weights simulation by the scale factors.
"""

from __future__ import annotations

import logging
import os
import pathlib
import zlib
from collections.abc import Iterator, Mapping

import awkward as ak
import numpy as np

from snakehep import progress
from snakehep.demo.detector import (
    _ELECTRON_FIELDS,
    _JET_FIELDS,
    _JET_PRECISION,
    _MUON_FIELDS,
    _PRECISION,
    BTAG_WP,
    _concat,
    _extra_jets,
    _fake_electrons,
    _jagged,
    _met,
    _reconstruct_jets,
    _reconstruct_muons,
    _soft_muons,
    _trigger,
    round_mantissa,
)
from snakehep.demo.nanoaod import NanoWriter, _open_output, parse_compression
from snakehep.demo.settings import demo_settings
from snakehep.demo.settings import sample_entry as _sample
from snakehep.demo.settings import sample_kind as _kind
from snakehep.demo.truth import _check_mass_range, _truth
from snakehep.errors import ConfigError
from snakehep.io import atomic_path

log = logging.getLogger(__name__)

DEMO_PREFIX = "resources/demo/"
CHUNK_SIZE = 250_000  # events simulated and written at once: bounds memory for large files

# genWeight magnitudes (arbitrary, NLO-generator-like) and fraction of negative weights
GEN_WEIGHT = {"dy": (1345.0, 0.10), "ttbar": (76.2, 0.0), "diboson": (9.5, 0.05), "zprime": (1.0, 0.0)}
# per-event rate of an extra soft non-prompt muon (heavy-flavour decays, punch-through)
SOFT_MUON_RATE = {"dy": 0.03, "ttbar": 0.30, "diboson": 0.03, "zprime": 0.03}
# mean number of soft ISR jets (in addition to a recoil jet and decay jets)
ISR_JETS = {"dy": 0.35, "ttbar": 0.8, "diboson": 0.3, "zprime": 0.3}


def _gen_weights(rng: np.random.Generator, process: str, n: int) -> np.ndarray:
    magnitude, negative = GEN_WEIGHT[process]
    sign = np.where(rng.random(n) < negative, -1.0, 1.0)
    return (magnitude * sign).astype(np.float32)


def simulate_process(
    process: str,
    n_events: int,
    rng: np.random.Generator,
    *,
    mass: float | None = None,
    is_data: bool = False,
    mass_range: tuple[float, float] | None = None,
) -> ak.Array:
    """Simulate ``n_events`` of ``process`` into a NanoAOD-like awkward record array.

    MC events carry ``genWeight`` and ``Pileup_nTrueInt``; data (``is_data``) do not. Event
    numbers are 1..n in run 1; :func:`generate_sample_part` renumbers them. ``mass_range``
    ``(low, high)`` [GeV] restricts the generated dimuon mass of ``dy`` (the m^-4.5 shape
    truncated to the range); it is a ConfigError for any other process, and so is a range
    outside ``0 < low < high <= 13000``. ``is_data`` only drops the generator branches: the
    data/simulation efficiency differences are applied by :func:`emulate_data_efficiencies`.
    """
    n = int(n_events)
    truth = _truth(process, n, rng, mass, mass_range)
    n_pileup = rng.poisson(30.0, n)
    muons = _reconstruct_muons(rng, _concat(truth.muons, _soft_muons(rng, n, SOFT_MUON_RATE[process])))
    jets_truth = dict(truth.jets, pileup=np.zeros(len(truth.jets["pt"]), dtype=bool))
    jets = _reconstruct_jets(rng, _concat(jets_truth, _extra_jets(rng, n, ISR_JETS[process], n_pileup)))
    met_pt, met_phi = _met(rng, truth, muons, jets)
    event = np.arange(1, n + 1, dtype=np.uint64)
    columns: dict[str, object] = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": (1 + (event - 1) // 1000).astype(np.uint32),
        "event": event,
    }
    if not is_data:
        columns["genWeight"] = _gen_weights(rng, process, n)
    columns["HLT_Mu50"] = _trigger(rng, muons, n)
    columns["Muon"] = _jagged(muons, _MUON_FIELDS, n)
    columns["Electron"] = _jagged(_fake_electrons(rng, n), _ELECTRON_FIELDS, n)
    columns["Jet"] = _jagged(jets, _JET_FIELDS, n, precision=_JET_PRECISION)
    columns["MET_pt"] = met_pt.astype(np.float32)
    columns["MET_phi"] = round_mantissa(met_phi, 12)
    if not is_data:
        columns["Pileup_nTrueInt"] = n_pileup.astype(np.float32)
    return ak.zip(columns, depth_limit=1)


# --------------------------------------------------------------------------------------------
# samples and files
# --------------------------------------------------------------------------------------------


def _seed_sequence(seed: int, sample: str, part: int, stream: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(sample.encode("utf-8")), part, stream])


def _rng(seed: int, sample: str, part: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(_seed_sequence(seed, sample, part, stream)))


def _demo_settings(analysis: Mapping) -> Mapping:
    demo = demo_settings(analysis)
    parse_compression(demo.get("compression", "ZLIB:4"))
    return demo


def _expected_events(analysis: Mapping, name: str, n_parts: int) -> float:
    """Events of ``name`` in one part of the pseudo-data: its true cross section (demo), else
    the one the analysis assumes (samples)."""
    truth = (analysis.get("demo") or {}).get("true_cross_sections") or {}
    if name in truth:
        return float(truth[name]) * float(analysis["luminosity"]) / n_parts
    sample = _sample(analysis, name)
    try:
        xsec = float(sample["xsec"])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"samples.{name}.xsec: missing or not a number") from err
    kfactor = float(sample.get("kfactor", 1.0) if sample.get("kfactor") is not None else 1.0)
    return xsec * kfactor * float(analysis["luminosity"]) / n_parts


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK_SIZE):
        yield start, min(CHUNK_SIZE, total - start)


def _mass_range(analysis: Mapping, name: str) -> tuple[float, float] | None:
    """``demo.mass_ranges[name]`` as (low, high), or None for an unsliced sample."""
    ranges = (analysis.get("demo") or {}).get("mass_ranges") or {}
    if name not in ranges:
        return None
    process = _sample(analysis, name).get("process")
    if process != "dy":
        raise ConfigError(f"demo.mass_ranges.{name}: only dy samples can be mass-binned, "
                          f"{name!r} is process {process!r}")
    try:
        return _check_mass_range(ranges[name])
    except ConfigError as err:
        raise ConfigError(f"demo.mass_ranges.{name}: {err}") from err


def _simulate_sample(analysis: Mapping, name: str, n: int, rng: np.random.Generator, *,
                     is_data: bool) -> ak.Array:
    sample = _sample(analysis, name)
    return simulate_process(sample["process"], n, rng, mass=sample.get("mass"), is_data=is_data,
                            mass_range=_mass_range(analysis, name))


# --------------------------------------------------------------------------------------------
# data efficiencies = simulated efficiencies x scale factors
# --------------------------------------------------------------------------------------------

_warned_scale_factors: set[str] = set()


def _scale_factor_probability(analysis: Mapping, name: str, values: np.ndarray) -> np.ndarray | None:
    """Per-object probability 1 - SF(value) to lose the ID/tag, or None without the factor.

    Binned like the analysis (values outside the edges take the nearest bin). A factor above 1
    cannot be emulated by dropping objects: its probability is clipped at 0, with one warning.
    """
    factor = (analysis.get("scale_factors") or {}).get(name)
    if not factor:
        return None
    try:
        edges = np.asarray(factor["edges"], dtype=np.float64)
        sf = np.asarray(factor["values"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"scale_factors.{name}: needs numeric 'edges' and 'values'") from err
    if edges.ndim != 1 or sf.ndim != 1 or len(edges) != len(sf) + 1 or len(sf) == 0:
        raise ConfigError(f"scale_factors.{name}: expected len(edges) == len(values) + 1 >= 2")
    if np.any(sf > 1.0) and name not in _warned_scale_factors:
        _warned_scale_factors.add(name)
        log.warning("scale_factors.%s: values above 1 (%s) cannot be emulated in the demo data "
                    "by dropping objects; the data efficiency there equals the simulated one",
                    name, ", ".join(f"{v:g}" for v in sf[sf > 1.0]))
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(sf) - 1)
    return np.clip(1.0 - sf[bins], 0.0, 1.0)


def _flat(collection: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(collection[field]))


def emulate_data_efficiencies(analysis: Mapping, events: ak.Array,
                              rng: np.random.Generator) -> ak.Array:
    """Make simulated events look like data whose efficiencies are SF x the simulated ones.

    * ``scale_factors.muon_id``: a muon with ``highPtId == 2`` gets ``highPtId = 0`` with
      probability 1 - SF(|eta|);
    * ``scale_factors.btag``: a jet with ``btagDeepFlavB > selection.parameters.btag_wp``
      (default 0.2783) gets a score uniform in [0, wp) with probability 1 - SF(pT).

    The factors are always binned in muon |eta| and jet pT (the demo's own variables, whatever
    ``variable`` says). Without the keys the events are returned unchanged.
    """
    muons, jets = events["Muon"], events["Jet"]
    drop_id = _scale_factor_probability(analysis, "muon_id", np.abs(_flat(muons, "eta")))
    if drop_id is not None:
        high_pt_id = _flat(muons, "highPtId").copy()
        lose = (high_pt_id == 2) & (rng.random(len(high_pt_id)) < drop_id)
        high_pt_id[lose] = 0
        muons = ak.with_field(muons, ak.unflatten(high_pt_id, ak.num(muons)), "highPtId")
        events = ak.with_field(events, muons, "Muon")
    drop_tag = _scale_factor_probability(analysis, "btag", _flat(jets, "pt").astype(np.float64))
    if drop_tag is not None:
        parameters = (analysis.get("selection") or {}).get("parameters") or {}
        wp = float(parameters.get("btag_wp", BTAG_WP))
        score = _flat(jets, "btagDeepFlavB").copy()
        u = rng.random((2, len(score)))
        lose = (score > wp) & (u[0] < drop_tag)
        # stored with the NanoAOD precision; the 2^-9 margin keeps the rounded score below wp
        lowered = round_mantissa(wp * (1.0 - 2.0**-9) * u[1], _PRECISION["btagDeepFlavB"])
        score[lose] = lowered[lose]
        jets = ak.with_field(jets, ak.unflatten(score, ak.num(jets)), "btagDeepFlavB")
        events = ak.with_field(events, jets, "Jet")
    return events


def _mc_chunks(analysis: Mapping, sample: str, part: int) -> tuple[int, Iterator[ak.Array]]:
    """The number of events of the file, and its chunks of events."""
    demo = _demo_settings(analysis)
    total = int(demo["events_per_file"])

    def chunks() -> Iterator[ak.Array]:
        for k, (start, size) in enumerate(_chunks(total)):
            rng = _rng(demo["seed"], sample, part, k + 1)
            events = _simulate_sample(analysis, sample, size, rng, is_data=False)
            event = np.arange(start, start + size, dtype=np.uint64) + np.uint64(part * total + 1)
            events["event"] = event
            events["luminosityBlock"] = (1 + (event - 1) // 1000).astype(np.uint32)
            yield events

    return total, chunks()


def _data_components(analysis: Mapping, sample: str) -> list[tuple[str, float]]:
    """(sample name, expected events per part) of everything the pseudo-data contain."""
    n_parts = len(_sample(analysis, sample).get("inputs") or [])
    samples = analysis.get("samples") or {}
    components = [
        (name, _expected_events(analysis, name, n_parts))
        for name in sorted(samples)  # the config's order of samples changes no event
        if _kind(analysis, name) == "background"
    ]
    inject = analysis["demo"].get("inject_signal")
    if inject:
        signal = inject.get("sample") if isinstance(inject, Mapping) else None
        if signal not in samples or _kind(analysis, signal) != "signal":
            raise ConfigError(f"demo.inject_signal.sample: not a signal sample: {signal!r}")
        mu = float(inject.get("mu", 1.0))
        components.append((signal, mu * _expected_events(analysis, signal, n_parts)))
    return components


def _data_event_ids(index: np.ndarray, part: int) -> dict[str, np.ndarray]:
    """Plausible, unique (run, luminosityBlock, event): each part owns its own runs."""
    in_run = index % 100_000
    run = (315_000 + 1000 * part + index // 100_000).astype(np.uint32)
    lumi = (1 + in_run // 500).astype(np.uint32)
    event = (in_run * 13 + (index * 7919) % 13 + 1).astype(np.uint64)
    return {"run": run, "luminosityBlock": lumi, "event": event}


def _data_chunks(analysis: Mapping, sample: str, part: int) -> tuple[int, Iterator[ak.Array]]:
    """The number of events of the file (drawn here), and its chunks of events."""
    demo = _demo_settings(analysis)
    components = _data_components(analysis, sample)
    rng = _rng(demo["seed"], sample, part, 0)
    counts = rng.poisson([mean for _, mean in components]) if components else np.zeros(0, int)
    labels = rng.permutation(np.repeat(np.arange(len(components)), counts))
    log.info("%s part %d: %s", sample, part,
             ", ".join(f"{name}={count}" for (name, _), count in zip(components, counts)))

    def chunks() -> Iterator[ak.Array]:
        for k, (start, size) in enumerate(_chunks(len(labels))):
            chunk_rng = _rng(demo["seed"], sample, part, k + 1)
            chunk_labels = labels[start : start + size]
            pieces = [
                _simulate_sample(analysis, name, int(np.sum(chunk_labels == i)), chunk_rng, is_data=True)
                for i, (name, _) in enumerate(components)
            ]
            ordered = ak.concatenate(pieces)  # grouped by label; put back in shuffled order
            position = np.argsort(chunk_labels, kind="stable")
            events = ordered[np.argsort(position)]
            # own stream: the simulation above does not depend on whether scale factors are set
            sf_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [demo["seed"], zlib.crc32(sample.encode("utf-8")), part, k + 1, 1])))
            events = emulate_data_efficiencies(analysis, events, sf_rng)
            for field, values in _data_event_ids(np.arange(start, start + size), part).items():
                events[field] = values
            yield events
        if len(labels) == 0:
            yield simulate_process("dy", 0, rng, is_data=True)

    return len(labels), chunks()


def generate_sample_part(
    analysis: dict, *, sample: str, part: int, output: str | os.PathLike, show_progress: bool = False
) -> None:
    """Write the ``part``-th (0-based) input file of ``sample`` to ``output`` (``show_progress``:
    events written, on a terminal)."""
    demo = _demo_settings(analysis)
    kind = _kind(analysis, sample)
    total, chunks = (_data_chunks if kind == "data" else _mc_chunks)(analysis, sample, part)
    with (
        atomic_path(output) as temporary,
        _open_output(temporary, demo.get("compression", "ZLIB:4")) as file,
        progress.events(total, f"{sample} part {part}", show=show_progress) as bar,
    ):
        writer = NanoWriter(file)
        for events in chunks:
            writer.extend(events)
            bar.update(len(events))
        if kind != "data":
            writer.write_runs()
    log.info("wrote %s (%s part %d, %d events)", output, sample, part, writer.n_events)


def _is_demo_path(path: str) -> bool:
    return pathlib.PurePosixPath(path).as_posix().startswith(DEMO_PREFIX) and not os.path.isabs(path)


def generate_demo_inputs(
    analysis: dict, *, samples: list[str] | None = None, overwrite: bool = False, show_progress: bool = False
) -> list[pathlib.Path]:
    """Write every input under ``resources/demo/`` of the selected samples (default: all);
    ``show_progress``: each file's events written, on a terminal."""
    _demo_settings(analysis)
    names = list(analysis.get("samples") or {}) if samples is None else list(samples)
    written: list[pathlib.Path] = []
    for name in names:
        for part, path in enumerate(_sample(analysis, name).get("inputs") or []):
            if not _is_demo_path(str(path)):
                continue
            target = pathlib.Path(path)
            if target.exists() and not overwrite:
                log.info("keeping existing %s", target)
                continue
            generate_sample_part(analysis, sample=name, part=part, output=target, show_progress=show_progress)
            written.append(target)
    return written
