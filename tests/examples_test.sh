#!/usr/bin/env bash
# The README's programs print what the README says they print.
set -euo pipefail
build=$1
fail=0
expect() {
    local program=$1 want=$2 got
    got=$("$build/examples/$program")
    if [ "$got" != "$want" ]; then
        printf 'examples: %s printed\n%s\ninstead of\n%s\n' "$program" "$got" "$want" >&2
        fail=1
    fi
}
expect basics $'[[0, 0], [3.5, 3.5]]\n7'
expect hand_built 'w = 3.0000, b = -2.0000'
[ "$fail" -eq 0 ] && echo "examples: basics and hand_built print the README's output"
exit "$fail"
