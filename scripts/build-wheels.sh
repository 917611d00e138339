#!/usr/bin/env bash
# The release artefacts in dist/: the sdist, and built from it (so the sdist is proven to hold
# everything, native/ included) one abi3 wheel per Linux architecture with esbridge._native,
# tagged manylinux_2_17 (manylinux2014). Linked by zig against glibc 2.17 (scripts/zig-linker.sh),
# so the aarch64 wheel cross-builds on an x86_64 machine; auditwheel checks and tags both.
#
#   scripts/build-wheels.sh                 # dist/esbridge-<v>.tar.gz and both wheels
#   ESBRIDGE_WHEEL_ARCHES=aarch64 scripts/build-wheels.sh
#
# ESBRIDGE_DIST: output folder (default dist/); CARGO_TARGET_DIR: cargo's build cache (default
# build/wheels-target/, kept between runs so a rebuild compiles only the changed crate);
# SETUPTOOLS_RUST_CARGO_PROFILE=dev builds the extension unoptimised (quicker; never for a
# release).
source "$(dirname "$0")/bootstrap.sh"
OUT="$(mkdir -p "${ESBRIDGE_DIST:-$ROOT/dist}" && cd "${ESBRIDGE_DIST:-$ROOT/dist}" && pwd)"
ARCHES="${ESBRIDGE_WHEEL_ARCHES:-x86_64 aarch64}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/build/wheels-target}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
ESBRIDGE_ZIG="$("$VENV/bin/python" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')"
export ESBRIDGE_ZIG
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version="$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"

rm -f "$OUT/esbridge-$version.tar.gz"
"$VENV/bin/python" -m build --sdist --outdir "$OUT" "$ROOT" >"$work/sdist.log" 2>&1 \
  || { cat "$work/sdist.log" >&2; exit 1; }
sdist="$OUT/esbridge-$version.tar.gz"
echo "built $sdist"

for arch in $ARCHES; do
  triple="$arch-unknown-linux-gnu"
  linker_var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
  rm -f "$OUT"/esbridge-"$version"-*"_$arch".whl
  env CARGO_BUILD_TARGET="$triple" "$linker_var=$ROOT/scripts/zig-linker.sh" \
    ESBRIDGE_ZIG_TARGET="$arch-linux-gnu.2.17" \
    "$VENV/bin/python" -m pip wheel --no-deps --verbose -w "$work/$arch" \
    -C--build-option=--plat-name="linux_$arch" "$sdist" >"$work/$arch.log" 2>&1 \
    || { tail -n 60 "$work/$arch.log" >&2; exit 1; }
  wheel="$(echo "$work/$arch"/esbridge-*.whl)"
  # native/ is optional to setuptools-rust, so a failed cargo build still makes a wheel: refuse
  # one without the extension rather than ship the Python fallback under a platform tag.
  if ! "$VENV/bin/python" -c 'import sys, zipfile
sys.exit("esbridge/_native.abi3.so" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$wheel"; then
    grep -E '^ *(error|= note)|build_rust: optional' "$work/$arch.log" | head -n 20 >&2 || true
    echo "build-wheels: $arch: esbridge/_native.abi3.so missing from $(basename "$wheel") (cargo failed)" >&2
    exit 1
  fi
  # repair refuses a wheel whose symbols are newer than the policy asked for. --plat names only
  # this machine's architecture; for the cross-built wheel `auto` takes the oldest policy its
  # symbols allow, which for aarch64 starts at manylinux_2_17: the check below holds it there.
  plat="manylinux_2_17_$arch"
  [ "$arch" = "$(uname -m)" ] || plat=auto
  PATH="$VENV/bin:$PATH" "$VENV/bin/auditwheel" repair --plat "$plat" --wheel-dir "$OUT" "$wheel" \
    >"$work/repair.log" 2>&1 || { cat "$work/repair.log" >&2; exit 1; }
  built="$(echo "$OUT"/esbridge-"$version"-cp3*-abi3-*"_$arch".whl)"
  case "$built" in
    *manylinux_2_17_"$arch"*) echo "built $built" ;;
    *) echo "build-wheels: $arch: expected a manylinux_2_17 wheel, auditwheel made $built" >&2; exit 1 ;;
  esac
done
