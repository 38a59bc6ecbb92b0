#!/bin/sh
# flux-mock's image with Debian's podman on a machine that cannot reach a container registry: the Dockerfile's
# base (python:3.11-slim) is stood in for by one made from Debian's own packages (debootstrap's minimal bookworm
# with Debian's python3 in a venv at /usr/local, python and pip on PATH as in the official image). pip still
# installs flux-mock's dependencies from your package index (PIP_INDEX_URL, or PyPI).
#
#   deploy/podman-offline.sh base                 make the base image once (root: debootstrap and chroot)
#   deploy/podman-offline.sh build [IMAGE]        build the image from this checkout (default localhost/flux-mock)
#   deploy/podman-offline.sh run [IMAGE] [PORT]   run it detached on 127.0.0.1:PORT (default 8080), print its name
#
# From the host, a mapped port is not loopback to the mock: its admin API (/__admin) answers only with a token.
# Set FLUX_MOCK_ADMIN_TOKEN before `run` and send it as X-Admin-Token; stop it with `podman rm -f NAME`.
#
# podman runs with runc and no default ulimits (crun and raised rlimits are refused in some sandboxes and CI
# runners): the configuration is this script's own (CONTAINERS_CONF), your system's is left as it is.
set -eu

BASE=${FLUX_MOCK_BASE_IMAGE:-localhost/flux-mock-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
HERE=$(cd "$(dirname "$0")/.." && pwd)
CONF_DIR=${XDG_RUNTIME_DIR:-/tmp}/flux-mock-podman
mkdir -p "$CONF_DIR"
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' > "$CONF_DIR/containers.conf"
export CONTAINERS_CONF="$CONF_DIR/containers.conf"

die() { echo "podman-offline: $*" >&2; exit 2; }
need() { for tool in "$@"; do command -v "$tool" >/dev/null || die "needs $tool (apt-get install podman runc debootstrap)"; done; }

base() {
    need podman runc debootstrap tar
    if podman image exists "$BASE"; then echo "$BASE"; return; fi
    scratch=$(mktemp -d /tmp/flux-mock-base.XXXXXX)
    trap 'rm -rf "$scratch"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$scratch/root" "$MIRROR" \
        >"$scratch/debootstrap.log" 2>&1 || { tail -20 "$scratch/debootstrap.log" >&2; die "debootstrap failed"; }
    chroot "$scratch/root" python3 -m venv /usr/local
    cp "$CA_BUNDLE" "$scratch/root/etc/ssl/certs/ca-certificates.crt"  # pip trusts what this machine trusts
    tar -C "$scratch/root" -cf "$scratch/root.tar" .
    podman import --change "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV PIP_CERT=$CA_BUNDLE" "$scratch/root.tar" "$BASE" >/dev/null
    echo "$BASE"
}

build() {
    image=${1:-localhost/flux-mock}
    base >/dev/null
    podman build --format docker --isolation chroot --network host --build-arg "PYTHON_IMAGE=$BASE" \
        -t "$image" "$HERE" >&2
    echo "$image"
}

run() {
    image=${1:-localhost/flux-mock}
    port=${2:-8080}
    name="flux-mock-$port"
    podman run -d --name "$name" -p "127.0.0.1:$port:8080" ${FLUX_MOCK_ADMIN_TOKEN:+-e FLUX_MOCK_ADMIN_TOKEN} \
        "$image" >/dev/null
    echo "$name"
}

case "${1:-}" in
    base) base ;;
    build) shift; build "$@" ;;
    run) shift; run "$@" ;;
    *) die "usage: $0 base | build [IMAGE] | run [IMAGE] [PORT]" ;;
esac
