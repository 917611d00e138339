#!/usr/bin/env bash
# The linker cargo calls for the wheels (scripts/build-wheels.sh): zig's clang with a glibc
# 2.17 target, so the extension asks for no symbol newer than manylinux2014 allows, on x86_64
# and, cross-linked from here, aarch64 (what cargo-zigbuild does, in a few lines).
# ESBRIDGE_ZIG_TARGET is zig's target (e.g. aarch64-linux-gnu.2.17); ESBRIDGE_ZIG is the zig
# binary of the ziglang package (called directly: pip's isolated build hides the venv's packages
# from a `python -m ziglang` started under it).
set -euo pipefail
args=()
for arg in "$@"; do
  case "$arg" in
    # rustc names its own target triple; zig takes the target from -target instead.
    --target=*) ;;
    *) args+=("$arg") ;;
  esac
done
exec "$ESBRIDGE_ZIG" cc -target "$ESBRIDGE_ZIG_TARGET" "${args[@]}"
