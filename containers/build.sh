#!/usr/bin/env bash
# Build and tag the snakehep images locally with podman: <registry>/snakehep-<step>:<tag>.
# Usage: containers/build.sh [options] [STEP ...]      (default steps: select all inference plots fetch)
#   --registry R     image name prefix (default ghcr.io/snakehep)
#   --tag T          image tag (default: the version in pyproject.toml, also the version label)
#   --base IMAGE     base image with python3 (>= 3.11) and its venv module
#                    (default docker.io/library/python:3.11-slim-bookworm)
#   --bootstrap      make the base locally with debootstrap (Debian bookworm, needs root), cached as
#                    a tarball under the cache directory and imported as localhost/snakehep-base:bookworm
#   --mirror URL     Debian mirror for --bootstrap (default http://deb.debian.org/debian)
#   --cache-dir DIR  where --bootstrap keeps its tarball (default ${XDG_CACHE_HOME:-~/.cache}/snakehep)
#   --ca-bundle FILE CA bundle that pip inside the build trusts, passed as a build secret (default:
#                    $PIP_CERT when set); it is mounted for the pip commands only, never in a layer
#   --wheels DIR     download the wheels of the steps on the host into DIR first (kept there as a
#                    cache), then build offline (--network none) from DIR mounted at /wheels
#   --jobs N         build N images at a time (default 1): the first step alone (it makes the shared
#                    layers), then the others in the order given
#   --source URL     org.opencontainers.image.source label (default https://github.com/snakehep/snakehep)
# Prints the tags it built, one a line, on standard output.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REGISTRY=ghcr.io/snakehep
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")
TAG=$VERSION
BASE=docker.io/library/python:3.11-slim-bookworm
BOOTSTRAP=0
MIRROR=http://deb.debian.org/debian
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/snakehep
CA_BUNDLE=${PIP_CERT:-}
SOURCE=https://github.com/snakehep/snakehep
WHEELS=
JOBS=1
STEPS=()

while (($#)); do
    case $1 in
        --registry) REGISTRY=$2; shift 2 ;;
        --tag) TAG=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        --bootstrap) BOOTSTRAP=1; shift ;;
        --mirror) MIRROR=$2; shift 2 ;;
        --cache-dir) CACHE_DIR=$2; shift 2 ;;
        --ca-bundle) CA_BUNDLE=$2; shift 2 ;;
        --wheels) WHEELS=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        --source) SOURCE=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *) STEPS+=("$1"); shift ;;
    esac
done
((${#STEPS[@]})) || STEPS=(select all inference plots fetch)
for step in "${STEPS[@]}"; do
    [[ -f $ROOT/containers/requirements/$step.txt ]] || { echo "build.sh: no step $step" >&2; exit 2; }
done

# A minimal Debian with python3, venv, pip and CA certificates, made once and kept as a tarball.
bootstrap_base() {
    local image=localhost/snakehep-base:bookworm tarball=$CACHE_DIR/debian-bookworm-python3.tar
    if [[ ! -s $tarball ]]; then
        local rootfs
        mkdir -p "$CACHE_DIR"
        rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            bookworm "$rootfs" "$MIRROR" >&2
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$rootfs"
    fi
    podman image exists "$image" || podman import "$tarball" "$image" >&2
    echo "$image"
}

# Every wheel the steps need (sdists built into wheels), fetched again only when a list changed.
download_wheels() {
    local lists=("$ROOT/constraints.txt" "$ROOT/containers/build-requirements.txt") step stamp
    for step in "${STEPS[@]}"; do lists+=("$ROOT/containers/requirements/$step.txt"); done
    stamp=$(cat "${lists[@]}" | sha256sum | cut -d' ' -f1)
    [[ -f $WHEELS/.lists-$stamp ]] && return
    mkdir -p "$WHEELS"
    # --use-pep517: sdists without a pyproject.toml (connection_pool) are built in an isolated
    # environment; pip older than 23.1 (Debian 12's) otherwise needs `wheel` installed beside it
    python3 -m pip wheel --quiet --use-pep517 --wheel-dir "$WHEELS" -c "$ROOT/constraints.txt" \
        -r "$ROOT/containers/build-requirements.txt" \
        $(for step in "${STEPS[@]}"; do echo "-r $ROOT/containers/requirements/$step.txt"; done) >&2
    touch "$WHEELS/.lists-$stamp"
}

((BOOTSTRAP)) && BASE=$(bootstrap_base)

# The commit the images are built from, "-dirty" when tracked files differ from it.
revision() {
    local commit
    commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
    git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit+=-dirty
    echo "$commit"
}

args=(--layers --build-arg "BASE_IMAGE=$BASE" --build-arg "VERSION=$VERSION"
      --build-arg "SOURCE=$SOURCE" --build-arg "REVISION=$(revision)")
[[ -n $CA_BUNDLE ]] && args+=(--secret "id=pipca,src=$CA_BUNDLE")
if [[ -n $WHEELS ]]; then
    download_wheels
    args+=(--network none --volume "$(cd "$WHEELS" && pwd):/wheels:ro")
else
    args+=(--network host)
fi

# The layer a step's image shares with others: core when its list includes core.txt.
shared_layer() {
    if grep -qx -- '-r core.txt' "$ROOT/containers/requirements/$1.txt"; then echo core; else echo "$1"; fi
}

build_step() {
    podman build "${args[@]}" --build-arg "STEP=$1" --build-arg "LAYER=$(shared_layer "$1")" \
        -f "$ROOT/containers/Containerfile" -t "$REGISTRY/snakehep-$1:$TAG" "$ROOT" 2>&1 |
        sed "s/^/[$1] /" >&2
}

# The first step alone (it builds the shared layers, which the later builds then find in the
# cache), then up to JOBS builds at a time.
failed=0 running=0
build_step "${STEPS[0]}" || failed=1
for step in "${STEPS[@]:1}"; do
    if ((running == JOBS)); then wait -n || failed=1; running=$((running - 1)); fi
    build_step "$step" &
    running=$((running + 1))
done
while ((running)); do wait -n || failed=1; running=$((running - 1)); done
((failed)) && { echo "build.sh: a build failed (see above)" >&2; exit 1; }
printf "$REGISTRY/snakehep-%s:$TAG\n" "${STEPS[@]}"
