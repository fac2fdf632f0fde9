#!/usr/bin/env bash
# Installs the built library into a scratch prefix and uses it as a user would:
#  - exactly the public headers of include/adjoint are installed, no internal one;
#  - the README's example builds with c++ -std=c++20 prog.cpp $(pkg-config --cflags --libs adjoint)
#  - and with CMake through find_package(adjoint) and the imported target adjoint::adjoint;
#  - both run and print the README's output;
#  - a build configured with -Dtests=false has no test suites.
set -euo pipefail
build=$1
source=$2
example=$source/examples/basics.cpp
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
fail() { echo "install: $*" >&2; exit 1; }

meson install -C "$build" --no-rebuild --destdir "$stage" >/dev/null
pc=$(find "$stage" -name adjoint.pc | head -n 1)
[ -n "$pc" ] || fail "no adjoint.pc was installed"
libdir=$(dirname "$(dirname "$pc")")
prefix=$(dirname "$(find "$stage" -type d -path '*/include/adjoint' | head -n 1)")
prefix=$(dirname "$prefix")

# The installed headers are the public tree, file for file.
installed=$(cd "$prefix/include/adjoint" && find . -type f | sort)
public=$(cd "$source/include/adjoint" && find . -type f | sort)
[ "$installed" = "$public" ] || fail "the installed headers differ from include/adjoint:
$(diff <(echo "$public") <(echo "$installed") || true)"
for internal in graph_data.hpp graph_impl.hpp plan.hpp plan_builder.hpp executor.hpp parallel.hpp gemm.hpp \
                broadcast.hpp reduce_kernel.hpp naive.hpp op_list.hpp; do
    [ -z "$(find "$stage" -name "$internal")" ] || fail "the internal header $internal was installed"
done

expected=$'[[0, 0], [3.5, 3.5]]\n7'
check_output() {
    local output
    output=$(LD_LIBRARY_PATH=$libdir "$1")
    [ "$output" = "$expected" ] || fail "the example built with $2 printed
$output
instead of
$expected"
}

# pkg-config: the staged prefix stands in for the real one (pkg-config prepends it to -I and -L).
PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage \
    c++ -std=c++20 "$example" -o "$stage/example" $(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage pkg-config --cflags --libs adjoint)
check_output "$stage/example" pkg-config

# CMake: find_package(adjoint) from the staged prefix; the config file finds everything
# relative to itself.
cmake -S "$source/tests/install" -B "$stage/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DEXAMPLE="$example" >/dev/null \
    || fail "CMake could not configure the consumer against $prefix"
cmake --build "$stage/cmake" >/dev/null || fail "the CMake consumer did not build"
check_output "$stage/cmake/example" CMake

# -Dtests=false: configured only (nothing is compiled), and no test is defined.
meson setup "$stage/notests" "$source" -Dtests=false >/dev/null
[ "$(meson introspect --tests "$stage/notests")" = "[]" ] || fail "-Dtests=false still defines tests"
echo "install: headers as include/adjoint; the example built with pkg-config and with CMake printed the expected output"
