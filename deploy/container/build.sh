#!/usr/bin/env bash
# Builds the two images with podman, from nothing but Debian's packages (a lab may have no image registry):
#   localhost/sweep-debian:bookworm      a minimal Debian 12 made here by debootstrap and `podman import`, once
#   localhost/sweep-coordinator:VERSION  sweep-coordinator + sweep (no libtorch)
#   localhost/sweep-worker:VERSION       the relocatable worker bundle (scripts/package-worker.sh)
#
#   deploy/container/build.sh [-p release|debug]      (the binaries must be built: cargo build [--release] --bins)
#
# Podman 4.3 on Debian 12 runs containers here only with the runc runtime and without default ulimits, so this
# script and deploy/container/test.sh use deploy/container/containers.conf (CONTAINERS_CONF) unless one is set.
# The images are built without RUN steps (nothing executes at build time), so any OCI runtime builds them.
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { printf '[container] %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }
PROFILE=release
[ "${1:-}" = "-p" ] && PROFILE=$2
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/container/containers.conf}
# A fresh machine may have no package lists yet: refresh them once, before the first install.
UPDATED=""
need() {
    command -v "$1" >/dev/null && return
    say "installing Debian's $2"
    [ -n "$UPDATED" ] || { apt-get update -qq; UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need podman podman; need runc runc; need debootstrap debootstrap
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
BASE=localhost/sweep-debian:bookworm

if ! podman image exists "$BASE"; then
    ROOTFS=$(mktemp -d /var/tmp/sweep-rootfs.XXXXXX)
    say "making $BASE with debootstrap (Debian 12 minbase, a few minutes)"
    debootstrap --variant=minbase bookworm "$ROOTFS" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -c . | podman import --message "debootstrap bookworm minbase" - "$BASE" >/dev/null
    rm -rf "$ROOTFS"
fi

CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/empty"
for b in sweep-coordinator sweep; do
    [ -x "target/$PROFILE/$b" ] || fail "target/$PROFILE/$b is missing: cargo build --workspace --bins (--release)"
    cp "target/$PROFILE/$b" "$CTX/"
done
TARBALL=$(scripts/package-worker.sh -p "$PROFILE" -o "$CTX/dist")
tar -C "$CTX" -xzf "$TARBALL"
mv "$CTX"/sweep-worker-*-linux-*/ "$CTX/sweep-worker"
podman build -q -f deploy/container/Containerfile.coordinator -t "localhost/sweep-coordinator:$VERSION" "$CTX" >/dev/null
podman build -q -f deploy/container/Containerfile.worker -t "localhost/sweep-worker:$VERSION" "$CTX" >/dev/null
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "sweep-(debian|coordinator|worker)" >&2
