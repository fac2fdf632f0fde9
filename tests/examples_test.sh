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
expect xor $'accuracy: 1.00\n0 xor 0 -> 0.00\n0 xor 1 -> 1.00\n1 xor 0 -> 1.00\n1 xor 1 -> 0.00'
# circles: binary classification on points it never saw (0.99 here; at least 0.97 anywhere).
circles=$("$build/examples/circles")
if ! awk '/^test accuracy: / { ok = $3 >= 0.97 } END { exit !ok }' <<<"$circles"; then
    printf 'examples: circles printed\n%s\n(test accuracy of at least 0.97 wanted)\n' "$circles" >&2
    fail=1
fi
# passes: the logs part of its output (the README shows the whole).
logs=$("$build/examples/passes" | sed -n '/^dead-nodes:/,/^$/p')
want='dead-nodes: 19 -> 19 nodes, 0 changes
fold: 19 -> 19 nodes, 0 changes
simplify: 19 -> 19 nodes, 0 changes
cse: 19 -> 19 nodes, 0 changes
fuse: 19 -> 13 nodes, 4 changes
  fused dense/matmul, dense/add into dense/matmul_bias = matmul_bias
  fused dense/add, dense/relu into dense/matmul_bias = matmul_bias[relu]
  fused dense_1/matmul, dense_1/add into dense_1/matmul_bias = matmul_bias
  fused loss/mul, loss/log, loss/sum, loss/neg into loss/softmax_cross_entropy = softmax_cross_entropy'
if [ "$logs" != "$want" ]; then
    printf 'examples: passes logged\n%s\ninstead of\n%s\n' "$logs" "$want" >&2
    fail=1
fi
[ "$fail" -eq 0 ] && echo "examples: basics, hand_built, xor, circles and passes print the README's output"
exit "$fail"
