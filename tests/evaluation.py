"""Evaluate expressions on hand-written events with either kernel, for the tests."""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from snakehep.selection.cuts import Scope, compile_selection, plan_branches
from snakehep.selection.expressions import Expression
from snakehep.selection.kernel_awkward import AWKWARD
from snakehep.selection.kernel_numpy import NUMPY

KERNELS = {"numpy": NUMPY, "awkward": AWKWARD}


def chunk_of(branches: dict[str, Any], types: dict[str, str] | None = None) -> ak.Array:
    """An awkward chunk as uproot reads it, from lists. ``types`` gives a numpy dtype per
    branch, ``var * dtype`` for a list per event (needed where there are no events)."""
    columns = {}
    for name, values in branches.items():
        dtype = (types or {}).get(name)
        jagged = dtype.startswith("var") if dtype else any(isinstance(v, list) for v in values)
        dtype = dtype.split("*")[-1].strip() if dtype else None
        if jagged:
            flat = np.asarray([x for event in values for x in event], dtype=dtype)
            if dtype is None and not len(flat):
                flat = flat.astype(np.float64)
            columns[name] = ak.unflatten(flat, np.asarray([len(v) for v in values], dtype=np.int64))
        else:
            columns[name] = ak.Array(np.asarray(values, dtype=dtype))
    return ak.zip(columns, depth_limit=1)


def scope_of(
    chunk: ak.Array, kernel, *, parameters=None, objects=None, quantities=None, texts=("True",)
) -> Scope:
    """A scope over the branches of ``chunk`` that the definitions and ``texts`` read."""
    config = {
        "selection": {
            "parameters": parameters or {},
            "objects": objects or {},
            "quantities": quantities or {},
            "cuts": [{"name": "c", "expr": "True"}],
        }
    }
    selection = compile_selection(config)
    plan = plan_branches(
        selection, ak.fields(chunk), extra=[Expression(t, where="t") for t in texts]
    )
    return Scope.of_chunk(
        selection, plan, kernel, chunk[list(plan.branches)] if plan.branches else chunk
    )


def evaluate(
    text: str, branches: dict[str, Any], kernel="numpy", *, types=None, **definitions
) -> Any:
    """The value of ``text`` as Python lists (None where missing)."""
    kernel = KERNELS[kernel] if isinstance(kernel, str) else kernel
    chunk = chunk_of(branches, types)
    scope = scope_of(chunk, kernel, texts=[text], **definitions)
    return to_python(kernel, scope.evaluate(Expression(text, where="t")))


def to_python(kernel, value: Any) -> Any:
    if isinstance(value, (bool, int, float, np.generic)):
        return value.item() if isinstance(value, np.generic) else value
    return kernel.to_awkward(value).tolist()
