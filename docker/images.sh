#!/usr/bin/env bash
# Build the lab's images without a registry (docs/containers.md, "Images"):
#   base        Debian bookworm (mmdebstrap) imported as python:3.11-slim-bookworm, the public
#               name the Dockerfiles start FROM (elsewhere `docker pull` gets the real one)
#   wheelhouse  build/wheelhouse: every wheel of requirements.lock, downloaded on the host
#   debs        build/prometheus-debs: Debian's prometheus and what the base lacks of its deps
#   dnslab      the dnslab image (Dockerfile), built with --network=none
#   prometheus  Prometheus from Debian's package on the same base, --network=none
#   all         every step; steps whose output exists are skipped (FORCE=1 redoes them)
# Tags: DNSLAB_IMAGE (dnslab:latest), PROMETHEUS_IMAGE (dnslab-prometheus:latest).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=python:3.11-slim-bookworm
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=python3,python3-venv,iproute2,ca-certificates
SETUPTOOLS=setuptools==80.9.0   # the build backend pyproject.toml asks for (>=68), pinned here
DNSLAB_IMAGE=${DNSLAB_IMAGE:-dnslab:latest}
PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-dnslab-prometheus:latest}
PIP=${PIP:-.venv/bin/pip}
FORCE=${FORCE:-0}

say() { printf '== %s\n' "$*" >&2; }

have_image() { [ "$FORCE" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

base() {
    if have_image "$BASE"; then say "base: $BASE exists"; return; fi
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing: apt-get install mmdebstrap" >&2; exit 1; }
    say "base: mmdebstrap $SUITE ($BASE_PACKAGES) -> docker import $BASE"
    mmdebstrap --quiet --variant=minbase --include="$BASE_PACKAGES" \
        --customize-hook='chroot "$1" ln -sf python3 /usr/bin/python' \
        "$SUITE" - "$MIRROR" |
        docker import \
            -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' \
            -c 'LABEL org.dnslab.base="mmdebstrap '"$SUITE"' minbase + '"$BASE_PACKAGES"'"' \
            - "$BASE" >/dev/null
}

wheelhouse() {
    local stamp=build/wheelhouse/.lock
    if [ "$FORCE" != 1 ] && [ -f "$stamp" ] && cmp -s "$stamp" requirements.lock; then
        say "wheelhouse: up to date with requirements.lock"; return
    fi
    say "wheelhouse: pip download -r requirements.lock $SETUPTOOLS"
    rm -rf build/wheelhouse && mkdir -p build/wheelhouse
    "$PIP" download --quiet --disable-pip-version-check --only-binary=:all: \
        -r requirements.lock "$SETUPTOOLS" -d build/wheelhouse
    cp requirements.lock "$stamp"
}

debs() {
    if [ "$FORCE" != 1 ] && ls build/prometheus-debs/prometheus_*.deb >/dev/null 2>&1; then
        say "debs: build/prometheus-debs exists"; return
    fi
    base
    say "debs: apt-get download prometheus and its dependencies missing from $BASE"
    local in_base closure
    in_base=$(docker run --rm --network=none "$BASE" dpkg-query -W -f '${Package}\n')
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances --no-pre-depends prometheus |
        grep -E '^[a-z0-9]' | sort -u)
    rm -rf build/prometheus-debs && mkdir -p build/prometheus-debs
    (cd build/prometheus-debs &&
        apt-get download -q $(comm -23 <(printf '%s\n' "$closure") <(printf '%s\n' "$in_base" | sort -u)))
    cp docker/prometheus.Dockerfile build/prometheus-debs/Dockerfile
}

dnslab() {
    base; wheelhouse
    say "dnslab: docker build --network=none -t $DNSLAB_IMAGE ."
    docker build --quiet --network=none -t "$DNSLAB_IMAGE" . >/dev/null
}

prometheus() {
    base; debs
    say "prometheus: docker build --network=none -t $PROMETHEUS_IMAGE build/prometheus-debs"
    docker build --quiet --network=none -t "$PROMETHEUS_IMAGE" build/prometheus-debs >/dev/null
}

case "${1:-all}" in
    base | wheelhouse | debs | dnslab | prometheus) "$1" ;;
    all) base; wheelhouse; dnslab; prometheus ;;
    *) echo "usage: $0 [all|base|wheelhouse|debs|dnslab|prometheus]" >&2; exit 2 ;;
esac
