#!/usr/bin/env bash
# Selection throughput of this checkout against an earlier revision, interleaved run by run
# (each run also times its own bare read: see selection.py). Both run this checkout's
# benchmarks/selection.py (both analysis shapes), each on its own core (workflow/).
#   bash benchmarks/selection_ab.sh d22db8f 3    # revision, pairs of runs
set -euo pipefail
cd "$(dirname "$0")/.."
revision=${1:?a git revision to compare with}
pairs=${2:-3}
baseline=$(mktemp -d)
trap 'git worktree remove --force "$baseline"' EXIT
git worktree add -q --detach "$baseline" "$revision"
for ((i = 1; i <= pairs; i++)); do
    for tree in "$baseline" "$PWD"; do
        label=$([ "$tree" = "$PWD" ] && echo "this checkout" || echo "$revision")
        echo "== $label, run $i"
        (cd "$tree" && PYTHONPATH="$tree/workflow" python3 "$OLDPWD/benchmarks/selection.py" --no-coffea \
            --repeat 1 --workdir "$OLDPWD/benchmarks/.data" "${@:3}" | grep -E '^(ZLIB|LZ4|ZSTD)')
    done
done
