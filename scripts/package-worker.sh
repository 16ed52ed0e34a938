#!/usr/bin/env bash
# Makes a relocatable worker: sweep-worker-VERSION-linux-x86_64.tar.gz, the binary and exactly the libtorch shared
# libraries it loads, found through an $ORIGIN-relative rpath. No Python, no venv, no LD_LIBRARY_PATH: unpack it
# anywhere on a Linux x86_64 machine with glibc and libstdc++ at least as new as the build machine's (Debian 12 here)
# and run bin/sweep-worker.
#
#   scripts/package-worker.sh [-p release|debug] [-o DIR]     (default: release, into dist/)
#
# The binary must be built first (cargo build --release -p sweep-worker). Which libraries go in is read from the
# dynamic loader itself (ldd): every library it resolves outside the system's folders, that is libtorch's folder
# and the few it pulls in (libgomp, and the CUDA runtime and profiler libraries the PyPI build of libtorch_cpu
# links). The bundle's binary then has its rpath set to $ORIGIN/../lib and each library to $ORIGIN, and the script
# checks with ldd that, with the venv out of reach, every library resolves inside the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[package] %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

PROFILE=release
OUT=dist
while [ $# -gt 0 ]; do
    case "$1" in
        -p|--profile) PROFILE=$2; shift 2 ;;
        -o|--out) OUT=$2; shift 2 ;;
        *) fail "unknown argument $1 (usage: scripts/package-worker.sh [-p release|debug] [-o DIR])" ;;
    esac
done
BIN=target/$PROFILE/sweep-worker
[ -x "$BIN" ] || fail "$BIN is missing: cargo build --$( [ "$PROFILE" = release ] && echo release || echo profile=dev ) -p sweep-worker"
command -v patchelf >/dev/null || {
    say "installing Debian's patchelf (sets the bundle's rpath)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq patchelf >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq patchelf >/dev/null; }
}

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
NAME=sweep-worker-$VERSION-linux-$(uname -m)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/$NAME
mkdir -p "$ROOT/bin" "$ROOT/lib" "$ROOT/licenses"

# The libraries the loader resolves for the binary (transitively), outside the system's own folders.
system_lib() { case "$1" in /lib/*|/lib64/*|/usr/lib/*|/usr/lib64/*) return 0 ;; *) return 1 ;; esac; }
LIBS=()
while read -r path; do
    system_lib "$path" || LIBS+=("$path")
done < <(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
[ "${#LIBS[@]}" -gt 0 ] || fail "ldd found no libtorch library for $BIN"
missing=$(ldd "$BIN" | grep "not found" || true)
[ -z "$missing" ] || fail "the build's own libraries do not all resolve: $missing"

cp "$BIN" "$ROOT/bin/sweep-worker"
for lib in "${LIBS[@]}"; do
    cp -L "$lib" "$ROOT/lib/$(basename "$lib")"
done
chmod u+w "$ROOT"/lib/* "$ROOT/bin/sweep-worker"
patchelf --set-rpath '$ORIGIN/../lib' "$ROOT/bin/sweep-worker"
for lib in "$ROOT"/lib/*; do patchelf --set-rpath '$ORIGIN' "$lib"; done
strip --strip-debug "$ROOT/bin/sweep-worker" 2>/dev/null || true

TORCH_DIR=$(readlink -f .venv/libtorch)
for f in LICENSE NOTICE; do
    [ -f "$TORCH_DIR/../torch-2.13.0.dist-info/$f" ] && cp "$TORCH_DIR/../torch-2.13.0.dist-info/$f" "$ROOT/licenses/pytorch-$f"
done
ls "$TORCH_DIR"/../torch-*.dist-info/licenses/* >/dev/null 2>&1 && cp "$TORCH_DIR"/../torch-*.dist-info/licenses/* "$ROOT/licenses/" 2>/dev/null || true
cat > "$ROOT/README.txt" <<EOF
sweep-worker $VERSION ($PROFILE build, $(uname -m)), relocatable: bin/sweep-worker finds its libraries in ../lib.
Libraries: $(cd "$ROOT/lib" && ls | paste -sd' ' -) (from PyTorch 2.13.0's libtorch; licenses/).
Run: bin/sweep-worker run --config worker.toml   (deploy/worker.toml in the sweep repository lists every key)
EOF

# The bundle must not lean on the build machine: every library resolves inside it.
leaks=$(cd "$ROOT" && ldd bin/sweep-worker | awk '$2 == "=>" { print $3 }' | while read -r p; do
    [ "$p" = "not" ] || p=$(readlink -f "$p")
    case "$p" in "$ROOT"/lib/*|/lib/*|/lib64/*|/usr/lib/*|/usr/lib64/*) ;; *) echo "$p" ;; esac; done)
[ -z "$leaks" ] || fail "libraries resolve outside the bundle: $leaks"

mkdir -p "$OUT"
TARBALL=$OUT/$NAME.tar.gz
tar -C "$STAGE" -czf "$TARBALL" "$NAME"
( cd "$OUT" && sha256sum "$NAME.tar.gz" > "$NAME.tar.gz.sha256" )
say "$TARBALL: $(du -h "$TARBALL" | cut -f1), $(cd "$ROOT/lib" && ls | wc -l) libraries: $(cd "$ROOT/lib" && ls | paste -sd' ' -)"
echo "$TARBALL"
