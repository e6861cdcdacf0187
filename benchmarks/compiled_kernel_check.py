"""What a compiled (numba) selection kernel would cost per job, and whether it could be exact.

Not a dependency of snakehep: run it in a scratch environment with the numpy of constraints.txt,

    python3 -m venv /tmp/numba-check && /tmp/numba-check/bin/pip install numpy==2.4.6 numba
    /tmp/numba-check/bin/python benchmarks/compiled_kernel_check.py   # twice: the second uses the cache

It prints the time to import numba and to load (or compile) one cached function, as every job's
process would pay, and how many of 10 million values the compiled sinh, cosh, cos and sqrt
(LLVM's and libm's) give differently from numpy's (its own SIMD loops on this CPU): a kernel
whose cutflows and histograms must stay bit-identical to the numpy and awkward kernels cannot
compute those functions itself.
"""

from __future__ import annotations

import math
import time

started = time.perf_counter()
import numba  # noqa: E402

print(f"import numba {numba.__version__}: {time.perf_counter() - started:.3f} s")

import numpy as np  # noqa: E402

FUNCTIONS = {"sinh": np.sinh, "cosh": np.cosh, "cos": np.cos, "sqrt": np.sqrt}


@numba.njit(cache=True)
def compiled(values):
    results = np.empty((4, len(values)))
    for i in range(len(values)):
        x = values[i]
        results[0, i] = math.sinh(x)
        results[1, i] = math.cosh(x)
        results[2, i] = math.cos(x)
        results[3, i] = math.sqrt(abs(x))
    return results


def main() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.0, 3.0, 5_000_000), rng.uniform(-10.0, 10.0, 5_000_000)])
    started = time.perf_counter()
    compiled(values[:10])
    print(f"first call (compiled, or loaded from the cache): {time.perf_counter() - started:.3f} s")
    results = compiled(values)
    for row, (name, function) in enumerate(FUNCTIONS.items()):
        reference = function(np.abs(values) if name == "sqrt" else values)
        differ = int(np.count_nonzero(results[row] != reference))
        print(f"{name:>5}: {differ} of {len(values)} values differ from numpy's ({differ / len(values):.1%})")


if __name__ == "__main__":
    main()
