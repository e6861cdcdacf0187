"""Weights from correctionlib files (config ``corrections``): per selected object (the event's
factor is the product over its objects, as for scale factors) or per event, with the nominal
value and, for a correction with a systematic input, its up and down values.

A correction's inputs are given in its own order: expressions (in the object's context for a
per-object correction) or numbers for its ``real`` and ``int`` inputs, the text itself for its
``string`` inputs (an era, a working point, the systematic key). They are evaluated with the
kernel's flat arrays and handed to correctionlib's vectorised ``evaluate`` at once. An object or
event one of whose inputs is missing (``muons[0].pt`` without a muon) gets the factor 1.
correctionlib is imported only when a config has corrections.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snakehep.errors import ConfigError, ExpressionError, InputFileError, UnreadableFileError
from snakehep.grid import fetch
from snakehep.histograms.store import NOMINAL
from snakehep.selection.cuts import Scope
from snakehep.selection.expressions import Expression
from snakehep.selection.semantics import SCALARS
from snakehep.selection.variations import DIRECTIONS

# what a correction's input of each type takes: the kinds of numbers an expression may give
INPUT_KINDS = {"real": "if", "int": "i"}


class CorrectionError(ConfigError):
    """A correction could not be evaluated (an input outside the domain its file says to refuse,
    a systematic key the file lacks); the message names the config key and the file."""


@dataclass(frozen=True)
class CorrectionInput:
    """One input of a correction: its name and type in the file, and what the config gives."""

    name: str
    type: str  # "real", "int" or "string"
    value: Expression | int | float | str
    where: str  # corrections.<name>.inputs[<i>]


@dataclass(frozen=True)
class Correction:
    """A correction of a correctionlib file, its inputs and (with ``systematic``, the position
    of its systematic input) the keys of the up and down values."""

    name: str
    file: str
    evaluator: Any  # correctionlib.highlevel.Correction or CompoundCorrection
    object: str | None
    inputs: tuple[CorrectionInput, ...]
    systematic: int | None = None
    keys: Mapping[str, str] | None = None  # "up"/"down" -> the systematic input's value

    @property
    def where(self) -> str:
        return f"corrections.{self.name}"

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(entry.value for entry in self.inputs if isinstance(entry.value, Expression))

    def per_event(
        self, scope: Scope, keys: tuple[str, ...] = (NOMINAL, *DIRECTIONS)
    ) -> dict[str, np.ndarray]:
        """Event factors ``{"nominal": ..., "up": ..., "down": ...}`` (or only ``keys``): per
        object, the product over the event's objects, left to right (1 for an event without
        objects)."""
        kernel = scope.kernel
        numeric = [entry for entry in self.inputs if entry.type != "string"]
        if self.object is None:
            operands = [self._input(scope, entry, None) for entry in numeric]
        else:
            objects = scope.resolve(self.object)
            # an object field first: every operand is aligned with the objects, constants too
            anchor = kernel.field(objects, kernel.field_names(objects)[0])
            operands = [anchor, *(self._input(scope, entry, objects) for entry in numeric)]

        def evaluate(values, presents):
            values = values[len(values) - len(numeric):]
            factors = self.evaluate(values, presents, keys)
            return factors if len(keys) > 1 else factors[0], None

        factors = kernel.elementwise(evaluate, operands, outputs=len(keys))
        factors = factors if len(keys) > 1 else (factors,)
        if self.object is not None:
            factors = tuple(kernel.reduce("prod", factor) for factor in factors)
        return {key: _per_event(kernel, factor, scope.n_events) for key, factor in zip(keys, factors)}

    def _input(self, scope: Scope, entry: CorrectionInput, objects: Any) -> Any:
        """An input's values: a number, or a column of one value per event (per object)."""
        if not isinstance(entry.value, Expression):
            return entry.value
        expression = entry.value
        value = scope.evaluate(expression) if objects is None else scope.evaluate_in(objects, expression)
        kernel = scope.kernel
        allowed = INPUT_KINDS[entry.type]
        if isinstance(value, SCALARS):
            kind = "b" if isinstance(value, (bool, np.bool_)) else np.asarray(value).dtype.kind
            kind = "i" if kind in "iu" else kind
        elif kernel.is_column(value):
            kind = value.kind
            if objects is None and kernel.is_per_object(value):
                raise ExpressionError(
                    f"{expression.where}: expression {expression.text!r}: must give one number "
                    f"per event (corrections.{self.name} has no object)"
                )
        else:
            kind = None
        if kind is None or kind not in allowed:
            per = "per event" if objects is None else f"per object of {self.object}"
            raise ExpressionError(
                f"{expression.where}: expression {expression.text!r}: input {entry.name!r} of "
                f"correction {self.evaluator.name!r} in {self.file} is {entry.type}: the "
                f"expression must give {'a number' if entry.type == 'real' else 'an integer'} {per}"
            )
        return value

    def evaluate(
        self, values: list[Any], presents: list[Any], keys: tuple[str, ...]
    ) -> tuple[Any, ...]:
        """The factors for each of ``keys`` from the numeric inputs' flat ``values`` (arrays
        of one length, or numbers): correctionlib where every input is present, 1 elsewhere."""
        present = None
        for mask in presents:
            if mask is not None:
                present = mask if present is None else present & mask
        length = next((len(v) for v in values if isinstance(v, np.ndarray)), None)
        arguments: list[Any] = []
        numbers = iter(values)
        for entry in self.inputs:
            if entry.type == "string":
                arguments.append(entry.value)
                continue
            value = next(numbers)
            dtype = np.float64 if entry.type == "real" else np.int64
            if isinstance(value, np.ndarray):
                value = value.astype(dtype, copy=False)
                if present is not None:
                    value = value[present]
            else:
                value = dtype(value).item()
            arguments.append(value)
        factors = []
        for key in keys:
            if key != NOMINAL:
                arguments[self.systematic] = self.keys[key]
            elif self.systematic is not None:
                arguments[self.systematic] = self.inputs[self.systematic].value
            result = self._call(arguments)
            if length is None:
                factors.append(float(result))
                continue
            factor = np.ones(length, dtype=np.float64)
            if present is None:
                factor[:] = result
            else:
                factor[present] = result
            factors.append(factor)
        return tuple(factors)

    def _call(self, arguments: list[Any]) -> Any:
        if any(isinstance(a, np.ndarray) and len(a) == 0 for a in arguments):
            return np.zeros(0)
        try:
            return self.evaluator.evaluate(*arguments)
        except (RuntimeError, IndexError, ValueError) as err:
            given = ", ".join(
                f"{entry.name}={_describe(argument)}"
                for entry, argument in zip(self.inputs, arguments)
            )
            raise CorrectionError(
                f"{self.where}: correction {self.evaluator.name!r} of {self.file} refused its "
                f"inputs ({given}): {_one_line(err)}"
            ) from None


def _describe(argument: Any) -> str:
    if isinstance(argument, np.ndarray):
        return f"{len(argument)} values in [{argument.min()}, {argument.max()}]" if len(argument) else "[]"
    return repr(argument)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _per_event(kernel: Any, factor: Any, n_events: int) -> np.ndarray:
    if isinstance(factor, SCALARS):
        return np.full(n_events, float(factor))
    return np.asarray(kernel.event_values(factor), dtype=np.float64)


# ------------------------------------------------------------------------------- from the config


def compile_corrections(
    analysis: Mapping[str, Any], *, grid: fetch.GridSettings | None = None
) -> dict[str, Correction]:
    """The corrections of the config, each checked against its file: the correction exists,
    its inputs are as many as it takes and of its types. ``grid``: how a remote file (a
    ``root://`` URL, a Rucio DID) is read."""
    entries = analysis.get("corrections") or {}
    files: dict[str, Any] = {}
    corrections = {}
    for name, entry in entries.items():
        source = entry["file"]
        if source not in files:
            files[source] = _correction_set(source, f"corrections.{name}.file", grid)
        corrections[name] = _compile(name, entry, files[source])
    return corrections


def _compile(name: str, entry: Mapping[str, Any], correction_set: Any) -> Correction:
    key, source = f"corrections.{name}", entry["file"]
    wanted = entry["correction"]
    plain, compound = list(correction_set), list(correction_set.compound)  # no `in`: IndexError
    if wanted in plain:
        evaluator = correction_set[wanted]
    elif wanted in compound:
        evaluator = correction_set.compound[wanted]
    else:
        known = sorted([*plain, *compound])
        raise ConfigError(
            f"{key}.correction: {source} has no correction {wanted!r} (it has: "
            f"{', '.join(known) or 'none'})"
        )
    declared = list(evaluator.inputs)
    described = ", ".join(f"{i.name} ({i.type})" for i in declared)
    given = entry["inputs"]
    if len(given) != len(declared):
        raise ConfigError(
            f"{key}.inputs: {len(given)} given, but correction {wanted!r} of {source} takes "
            f"{len(declared)}: {described}"
        )
    inputs = tuple(
        _input(f"{key}.inputs[{i}]", declared_input, value, wanted, source)
        for i, (declared_input, value) in enumerate(zip(declared, given))
    )
    systematic, keys = None, None
    if entry.get("systematic"):
        settings = entry["systematic"]
        names = [i.name for i in declared]
        if settings["input"] not in names:
            raise ConfigError(
                f"{key}.systematic.input: correction {wanted!r} of {source} has no input "
                f"{settings['input']!r} (its inputs: {described})"
            )
        systematic = names.index(settings["input"])
        if inputs[systematic].type != "string":
            raise ConfigError(
                f"{key}.systematic.input: input {settings['input']!r} of correction {wanted!r} "
                f"of {source} is {inputs[systematic].type}, not a string input that names a "
                "variation"
            )
        keys = {direction: settings[direction] for direction in DIRECTIONS}
    return Correction(name, source, evaluator, entry.get("object"), inputs, systematic, keys)


def _input(where: str, declared: Any, value: Any, correction: str, source: str) -> CorrectionInput:
    kind = declared.type
    wrong = (
        f"{where}: input {declared.name!r} of correction {correction!r} of {source} is {kind}"
    )
    if isinstance(value, bool):
        raise ConfigError(f"{wrong}, not a boolean")
    if kind == "string":
        if not isinstance(value, str):
            raise ConfigError(f"{wrong}: give its text, quoted ({str(value)!r})")
        return CorrectionInput(declared.name, kind, value, where)
    if kind not in INPUT_KINDS:
        raise ConfigError(f"{wrong}, which snakehep cannot give")
    if isinstance(value, (int, float)):
        if kind == "int" and not float(value).is_integer():
            raise ConfigError(f"{wrong}, not {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{wrong}: {value!r} is not a finite number")
        return CorrectionInput(declared.name, kind, int(value) if kind == "int" else float(value), where)
    return CorrectionInput(declared.name, kind, Expression(value, where=where), where)


def _correction_set(source: str, key: str, grid: fetch.GridSettings | None) -> Any:
    """The correctionlib ``CorrectionSet`` of a local file, a ``root://`` URL or a Rucio DID
    (read from its ``root://`` replica); JSON, gzipped or not."""
    import correctionlib

    text = _read_remote(source, key, grid or fetch.GridSettings()) if fetch.is_remote(source) else None
    try:
        if text is not None:
            return correctionlib.CorrectionSet.from_string(text)
        return correctionlib.CorrectionSet.from_file(source)
    except FileNotFoundError:
        raise InputFileError(f"{key}: no such file {source!r}") from None
    except (RuntimeError, ValueError, OSError, UnicodeDecodeError) as err:
        raise InputFileError(
            f"{key}: {source} is not a correctionlib file (JSON, or gzipped JSON, of schema "
            f"version 2): {_one_line(err)[:300]}"
        ) from None


def _read_remote(source: str, key: str, grid: fetch.GridSettings) -> str:
    try:
        data = fetch.read_remote(source, key=key, settings=grid)
    except UnreadableFileError as err:
        raise InputFileError(str(err)) from None
    try:
        return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputFileError(f"{key}: {source} is not a correctionlib file: {_one_line(err)}") from None
