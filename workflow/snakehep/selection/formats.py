"""Input formats other than NanoAOD: ATLAS DAOD_PHYSLITE, seen by the selection as NanoAOD.

A PHYSLITE file (TTree ``CollectionTree``) stores each field of a container in its own branch,
``AnalysisMuonsAuxDyn.pt``, in MeV, with no object counter and the event weights in
``EventInfoAuxDyn.mcEventWeights``. :class:`PhysliteEvents` shows such a tree under NanoAOD-like
names, so that planning, the kernels and the cuts work unchanged:

- the fields of container ``C`` are ``C_<field>`` where ``C`` drops a leading ``Analysis``
  (``Muons_pt`` is ``AnalysisMuonsAuxDyn.pt``; the full ``AnalysisMuons_pt`` works too), ``m`` is
  ``mass``; a container of one value per event gives per-event names (``EventInfo_runNumber``);
- :data:`MEV_FIELDS` (and fields starting with :data:`MEV_PREFIXES`) are converted to GeV once,
  as they are read (as float64 divided by 1000);
- ``genWeight`` is ``EventInfoAuxDyn.mcEventWeights[0]``; ``Muons_mass`` is the muon mass where
  the file has no ``AnalysisMuonsAuxDyn.m`` (as coffea's PHYSLITE schema does);
- an ElementLink or a field uproot cannot read as numbers is refused, naming the branch, only if
  an expression uses it (:meth:`PhysliteEvents.check_usable`).

The sum of weights a simulated sample is normalised with comes from the file's ``MetaData``
CutBookkeepers (:func:`bookkeeper_sum_of_weights`) or from ``samples.<name>.sum_genweights``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import awkward as ak
import numpy as np
import uproot

from snakehep.errors import InputFileError, UnreadableFileError

NANOAOD, PHYSLITE = "nanoaod", "physlite"
TREE = "CollectionTree"
AUXDYN = "AuxDyn."
PREFIX = "Analysis"
WEIGHTS = "EventInfoAuxDyn.mcEventWeights"
GENERATOR_WEIGHT = "genWeight"  # the name the selection uses (processing.GENERATOR_WEIGHT)
# MeV in the file, GeV for the selection: four-momenta, missing transverse momentum, isolation
MEV_FIELDS = frozenset({"pt", "m", "e", "px", "py", "pz", "pt_dressed", "e_dressed", "mpx", "mpy", "sumet"})
MEV_PREFIXES = ("ptcone", "ptvarcone", "topoetcone", "etcone", "neflowisol")
# containers whose mass the file does not store: xAOD::Muon_v1::m() is this constant (MeV)
CONSTANT_MASS = {"AnalysisMuons": 105.6583755}
# the CutBookkeeper counting every event an ATLAS job read, and the input streams whose highest
# cycle is the sample before any skimming (as CP::AsgCutBookkeeperAlg picks it)
BOOKKEEPER = "AllExecutedEvents"
BOOKKEEPER_STREAMS = ("StreamAOD", "StreamDAOD_PHYSLITE", "StreamEVGEN", "StreamEVNT")


def is_mev(field: str) -> bool:
    return field in MEV_FIELDS or field.startswith(MEV_PREFIXES)


def collection_names(container: str) -> tuple[str, ...]:
    """The names a container goes by in expressions: without a leading ``Analysis``, and as is."""
    if container.startswith(PREFIX) and len(container) > len(PREFIX):
        return (container[len(PREFIX) :], container)
    return (container,)


class PhysliteEvents:
    """A PHYSLITE ``CollectionTree`` under NanoAOD-like names (``keys``, ``iterate``), for
    :func:`snakehep.selection.processing.process_file`."""

    def __init__(self, tree: Any, *, where: str = "") -> None:
        self._tree, self._where = tree, where  # where: "sample NAME: PATH", for messages
        self.num_entries = tree.num_entries
        self._branches: dict[str, str] = {}  # name -> branch of the file
        self._labels: dict[str, str] = {}  # name -> how the config names it (for messages)
        self._mass: dict[str, tuple[str, float]] = {}  # name -> (branch giving the lists, GeV)
        containers: dict[str, set[str]] = {}
        for branch in tree.keys(recursive=False):
            container, separator, field = branch.partition(AUXDYN)
            if separator and field and "." not in field and "/" not in field:
                containers.setdefault(container, set()).add(field)
        for container, fields in sorted(containers.items()):
            for collection in collection_names(container):
                for field in fields:
                    name = f"{collection}_{'mass' if field == 'm' else field}"
                    if name not in self._branches:
                        self._branches[name] = f"{container}{AUXDYN}{field}"
                        self._labels[name] = f"{name}: field {field} of {collection}"
                mass = CONSTANT_MASS.get(container)
                if mass is not None and "m" not in fields and "pt" in fields:
                    self._mass[f"{collection}_mass"] = (f"{container}{AUXDYN}pt", mass / 1000.0)
        if WEIGHTS in self._branches.values():
            self._branches[GENERATOR_WEIGHT] = WEIGHTS
            self._labels[GENERATOR_WEIGHT] = f"the event weight {GENERATOR_WEIGHT}"

    def keys(self) -> list[str]:
        return sorted({*self._branches, *self._mass})

    def branch_name(self, name: str) -> str:
        """The file's branch behind a name (for messages); a name the file lacks as the branch
        it would be (``Muons_foo``: ``AnalysisMuonsAuxDyn.foo``) where its collection is known."""
        if name in self._branches:
            return self._branches[name]
        if name in self._mass:
            return f"{self._mass[name][0].rpartition('.')[0]}.m"
        if name == GENERATOR_WEIGHT:
            return WEIGHTS
        known = sorted({n.rpartition(AUXDYN)[0] for n in self._branches.values()}, key=len)
        for container in reversed(known):
            for collection in collection_names(container):
                if name.startswith(f"{collection}_"):
                    return f"{container}{AUXDYN}{name[len(collection) + 1 :]}"
        return name

    def check_usable(self, names: Sequence[str], sample: str, path: str) -> None:
        """Refuse, naming the branch, names of ElementLinks and of fields uproot cannot read as
        one number or one list of numbers per event (names the file lacks are not checked)."""
        problems = []
        for name in names:
            if name not in self._branches:
                continue
            branch = self._tree[self._branches[name]]
            typename, used = branch.typename, self._labels[name]
            if "ElementLink" in typename:
                problems.append(
                    f"{branch.name} ({used}) is an ElementLink ({typename}): a link to objects of "
                    "another container, which expressions cannot follow"
                )
            elif not numbers_per_event(branch.interpretation):
                problems.append(
                    f"{branch.name} ({used}) has type {typename}, which uproot cannot read as one "
                    "number or one list of numbers per event"
                )
        if problems:
            raise InputFileError(
                f"sample {sample}: {path}: PHYSLITE field(s) that expressions cannot use: "
                + "; ".join(problems)
            )

    def iterate(self, names: Sequence[str], *, step_size: int, library: str = "ak") -> Iterator[ak.Array]:
        """Chunks of events as records of the ``names`` (GeV, ``genWeight``, muon masses)."""
        names = list(names)
        wanted = {self._branches[n] for n in names if n in self._branches}
        wanted |= {self._mass[n][0] for n in names if n in self._mass}
        chunks = self._tree.iterate(sorted(wanted), step_size=step_size, library="ak", how=dict, report=True)
        for arrays, report in chunks:
            length = report.tree_entry_stop - report.tree_entry_start
            fields = {}
            for name in names:
                if name in self._mass:
                    branch, mass = self._mass[name]
                    fields[name] = ak.full_like(arrays[branch], mass, dtype=np.float64)
                elif name == GENERATOR_WEIGHT:
                    fields[name] = _first_weight(arrays[WEIGHTS], report.tree_entry_start, self._where)
                else:
                    branch = self._branches[name]
                    array = arrays[branch]
                    fields[name] = _in_gev(array) if is_mev(branch.rpartition(".")[2]) else array
            if fields:
                yield ak.zip(fields, depth_limit=1)
            else:
                yield ak.Array(ak.contents.RecordArray([], [], length=length))


def _first_weight(weights: ak.Array, first_entry: int, where: str) -> np.ndarray:
    """``mcEventWeights[0]`` of every event; an event without weights is refused."""
    counts = ak.to_numpy(ak.num(weights, axis=1))
    if (counts == 0).any():
        entry = first_entry + int(np.flatnonzero(counts == 0)[0])
        raise InputFileError(
            f"{where}: {WEIGHTS} is empty at entry {entry}: the event has no generator weight "
            "(mcEventWeights[0])"
        )
    return ak.to_numpy(weights[:, 0])


def _in_gev(array: ak.Array) -> ak.Array | np.ndarray:
    """MeV values (one per event, or one list per event) in GeV, as float64."""
    if array.ndim == 1:
        return ak.to_numpy(array).astype(np.float64) / 1000.0
    if array.ndim != 2:
        return array  # refused by check_usable before any read
    flat = ak.to_numpy(ak.flatten(array)).astype(np.float64) / 1000.0
    return ak.unflatten(flat, ak.num(array, axis=1))


def numbers_per_event(interpretation: Any) -> bool:
    """Whether a branch reads as one number or one list of numbers per event, the only values
    expressions take (None: an RNTuple field, not checked)."""
    if interpretation is None:
        return True
    if isinstance(interpretation, uproot.AsJagged):
        interpretation = interpretation.content
    return (
        isinstance(interpretation, uproot.AsDtype)
        and interpretation.to_dtype.shape == ()
        and interpretation.to_dtype.kind in "biuf"
    )


def open_physlite(source: Any, *, sample: Any, path: str) -> tuple[PhysliteEvents, float | None]:
    """The events of a PHYSLITE file and, for a simulated sample without
    ``samples.<name>.sum_genweights``, the sum of weights of its CutBookkeepers (refused when
    the file has none that uproot can read)."""
    if TREE not in source:
        raise UnreadableFileError(
            f"sample {sample.name}: {path} has no TTree {TREE!r} (samples.{sample.name}.format "
            f"is {PHYSLITE})"
        )
    events = PhysliteEvents(source[TREE], where=f"sample {sample.name}: {path}")
    if sample.is_data or sample.sum_genweights is not None:
        return events, None
    total, reason = bookkeeper_sum_of_weights(source)
    if total is None:
        raise InputFileError(
            f"sample {sample.name}: {path}: no sum of weights in the file's metadata ({reason}); "
            f"give samples.{sample.name}.sum_genweights: the sum of mcEventWeights[0] over every "
            "event the sample was made from, before any skimming"
        )
    return events, total


def bookkeeper_sum_of_weights(source: Any) -> tuple[float | None, str]:
    """The ``sumOfEventWeights`` of the ``AllExecutedEvents`` CutBookkeeper with the highest
    cycle among :data:`BOOKKEEPER_STREAMS`, summed over the entries of the ``MetaData`` tree;
    (None, why) where the file has none uproot can read."""
    if "MetaData" not in source:
        return None, "no MetaData tree"
    try:
        tree = source["MetaData"]  # a TTree ("CutBookkeepersAux./CutBookkeepersAux.name") or RNTuple
        keys = {}
        for field in ("name", "inputStream", "cycle", "sumOfEventWeights"):
            key = f"CutBookkeepersAux.{field}"
            keys[field] = next((k for k in tree.keys() if k == key or k.endswith(f"/{key}")), None)  # noqa: SIM118
            if keys[field] is None:
                return None, f"MetaData has no {key}"
        arrays = tree.arrays(list(keys.values()), library="ak", how=dict)
        columns = {field: ak.to_list(arrays[key]) for field, key in keys.items()}
    except Exception as err:  # noqa: BLE001 - uproot raises many types for what it cannot read
        return None, f"uproot cannot read MetaData CutBookkeepers: {' '.join(str(err).split())}"
    totals = []
    for names, streams, cycles, sums in zip(*columns.values()):
        chosen = pick_bookkeeper(names, streams, cycles, sums)
        if chosen is None:
            return None, f"no {BOOKKEEPER} CutBookkeeper of {', '.join(BOOKKEEPER_STREAMS)}"
        totals.append(chosen)
    if not totals:
        return None, "the MetaData tree is empty"
    return math.fsum(totals), ""


def pick_bookkeeper(names, streams, cycles, sums) -> float | None:
    """The sum of weights of the ``AllExecutedEvents`` bookkeeper of an allowed stream with
    the highest cycle (None if there is none)."""
    best = None
    for name, stream, cycle, total in zip(names, streams, cycles, sums):
        if name == BOOKKEEPER and stream in BOOKKEEPER_STREAMS and (best is None or cycle > best[0]):
            best = (cycle, float(total))
    return None if best is None else best[1]
