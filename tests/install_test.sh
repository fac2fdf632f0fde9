#!/usr/bin/env bash
# Installs the built library into a scratch prefix, then builds and runs the README's
# example exactly as a user would: c++ -std=c++20 prog.cpp $(pkg-config --cflags --libs adjoint)
set -euo pipefail
build=$1
example=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build" --no-rebuild --destdir "$stage" >/dev/null
pc=$(find "$stage" -name adjoint.pc | head -n 1)
[ -n "$pc" ] || { echo "install: no adjoint.pc was installed" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
[ -f "$(dirname "$libdir")/include/adjoint/adjoint.hpp" ] || [ -n "$(find "$stage" -path '*include/adjoint/adjoint.hpp')" ] \
    || { echo "install: <adjoint/adjoint.hpp> was not installed" >&2; exit 1; }

# The staged prefix stands in for the real one: pkg-config prepends it to -I and -L.
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage
c++ -std=c++20 "$example" -o "$stage/example" $(pkg-config --cflags --libs adjoint)
output=$(LD_LIBRARY_PATH=$libdir "$stage/example")
expected=$'[[0, 0], [3.5, 3.5]]\n7'
if [ "$output" != "$expected" ]; then
    printf 'install: the example printed\n%s\ninstead of\n%s\n' "$output" "$expected" >&2
    exit 1
fi
echo "install: example built with pkg-config printed the expected output"
