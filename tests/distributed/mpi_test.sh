#!/usr/bin/env bash
# Data-parallel training through a real mpirun, over shared memory and loopback only:
#   - ranks (tests/distributed/ranks.cpp) on 2 and 3 processes: the same bits on every
#     rank and on a rerun, one process's weights to a stated tolerance; buckets give the
#     same bits as one message, and TCP between two network namespaces as shared memory;
#   - tools/mnist on 2 processes and the real MNIST files: one epoch reaches the
#     single-process bar, rank 0 alone prints and saves, a rerun saves the same bytes, and
#     a run resumed from a checkpoint (--load, --initial-epoch) saves what an
#     uninterrupted one does;
#   - a rank that fails, or is killed, stops the whole job within a bounded time, and the
#     error names the rank; ranks given different models stop at start-up, naming them.
set -euo pipefail
ranks=$1
mnist=$2
source_root=$3
data=$source_root/data/mnist
"$source_root/scripts/fetch-mnist" "$data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { passed=$((passed + 1)); }

# Tests run as root in CI: Open MPI wants that said. Shared memory between the ranks,
# loopback for mpirun's own control messages; more ranks than cores is allowed.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe --bind-to none --mca btl self,vader --mca oob_tcp_if_include lo)
limit=180  # seconds: a job that hangs fails here instead of stalling CI
# Under AddressSanitizer (scripts/sanitize): Open MPI keeps some memory past MPI_Finalize.
# Full stacks let the suppressions see its libraries; our own leaks are still reported.
export LSAN_OPTIONS="suppressions=$source_root/tests/distributed/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"

# ranks: the printed line has the weights' hash, the same on a rerun.
for np in 2 3; do
    for run in 1 2; do
        if timeout "$limit" "${mpi[@]}" -np "$np" "$ranks" 64 0 >"$work/ranks$np.$run" 2>"$work/err"; then ok
        else fail "ranks on $np processes: $(cat "$work/err" "$work/ranks$np.$run")"; fi
    done
    if cmp -s "$work/ranks$np.1" "$work/ranks$np.2" && grep -q "weights" "$work/ranks$np.1"; then ok
    else fail "two runs on $np processes differ: $(cat "$work/ranks$np.1" "$work/ranks$np.2")"; fi
    cat "$work/ranks$np.1"
done
# Buckets of 4 KB (several messages, chained) sum each element as one message does.
if timeout "$limit" "${mpi[@]}" -np 3 "$ranks" 64 4096 >"$work/buckets" 2>"$work/err" &&
    cmp -s "$work/buckets" "$work/ranks3.1"; then ok
else fail "buckets of 4096 bytes change the result: $(cat "$work/err" "$work/buckets" "$work/ranks3.1")"; fi

# Over TCP, between two network namespaces made here (root, iproute2): the same bits as
# over shared memory, the sum's order being the program's, not the transport's. Rank 0
# runs in namespace a with mpirun, rank 1 in b; they talk over a veth pair's private
# addresses only.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns add "adj$$a" 2>/dev/null; then
    ns_a=adj$$a ns_b=adj$$b
    trap 'ip netns del "$ns_a" 2>/dev/null; ip netns del "$ns_b" 2>/dev/null; rm -rf "$work"' EXIT
    ip netns add "$ns_b"
    ip link add "va$$" type veth peer name "vb$$"
    ip link set "va$$" netns "$ns_a"
    ip link set "vb$$" netns "$ns_b"
    ip -n "$ns_a" addr add 10.231.9.1/24 dev "va$$"
    ip -n "$ns_b" addr add 10.231.9.2/24 dev "vb$$"
    for ns in "$ns_a" "$ns_b"; do
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "$([ "$ns" = "$ns_a" ] && echo "va$$" || echo "vb$$")" up
    done
    if PMIX_MCA_ptl_tcp_remote_connections=1 PMIX_MCA_ptl_tcp_if_include=10.231.9.0/24 timeout "$limit" \
        ip netns exec "$ns_a" mpirun --mca btl self,tcp --mca btl_tcp_if_include 10.231.9.0/24 \
        --mca oob_tcp_if_include 10.231.9.0/24 -np 1 "$ranks" 64 0 : -np 1 ip netns exec "$ns_b" "$ranks" 64 0 \
        >"$work/tcp" 2>"$work/err" && cmp -s "$work/tcp" "$work/ranks2.1"; then ok
    else fail "2 ranks over TCP between namespaces: $(cat "$work/err" "$work/tcp" "$work/ranks2.1")"; fi
else
    echo "distributed: the check over TCP between network namespaces needs root and ip netns: skipped"
fi

# The driver on 2 processes: one epoch of the default recipe, 1 thread each.
train() { timeout "$limit" "${mpi[@]}" "$@"; }
common=(--data-dir "$data" --threads 1)
for run in 1 2; do
    if train -np 2 "$mnist" "${common[@]}" --epochs 1 --json --save "$work/w$run.ckpt" >"$work/train$run.json" 2>"$work/err"; then ok
    else fail "mpirun -np 2 mnist: $(cat "$work/err")"; fi
done
acc=$(sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p' "$work/train1.json")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' && ok || fail "2 ranks: test accuracy '$acc' after one epoch is below 0.95"
[ "$(grep -c test_accuracy "$work/train1.json")" = 1 ] && ok || fail "more than rank 0 printed: $(cat "$work/train1.json")"
cmp -s "$work/w1.ckpt" "$work/w2.ckpt" && ok || fail "two runs on 2 processes saved different weights"

# Resuming: the 1-epoch checkpoint, continued for a second epoch, saves what 2 epochs
# uninterrupted save (the optimizer's state is in the checkpoint, the shuffles are the
# epochs'); on 2 ranks and in one process.
for launch in "train -np 2" "timeout $limit"; do
    $launch "$mnist" "${common[@]}" --epochs 1 --quiet --save "$work/one.ckpt" >/dev/null 2>"$work/err" &&
        $launch "$mnist" "${common[@]}" --epochs 2 --quiet --save "$work/two.ckpt" >/dev/null 2>>"$work/err" &&
        $launch "$mnist" "${common[@]}" --epochs 2 --quiet --load "$work/one.ckpt" --initial-epoch 1 \
            --save "$work/resumed.ckpt" >/dev/null 2>>"$work/err" || fail "resuming ($launch): $(cat "$work/err")"
    cmp -s "$work/two.ckpt" "$work/resumed.ckpt" && ok ||
        fail "($launch) 1 epoch, saved, loaded and continued for 1 more differs from 2 epochs uninterrupted"
done

# A rank that fails (its MNIST file is cut short) ends the job, naming itself.
mkdir "$work/cut"
cp "$data"/* "$work/cut/"
head -c 1000 "$data/train-images-idx3-ubyte" >"$work/cut/train-images-idx3-ubyte"
status=0
SECONDS=0
train -np 1 "$mnist" "${common[@]}" --epochs 3 : -np 1 "$mnist" --data-dir "$work/cut" --epochs 3 --threads 1 \
    >"$work/out" 2>"$work/err" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q "rank 1 of 2" "$work/err" && [ "$SECONDS" -lt 60 ]; then ok
else fail "a failing rank 1: status $status after ${SECONDS}s: $(cat "$work/err")"; fi

# A rank killed mid-training (SIGKILL after 2 s) ends the job too.
status=0
SECONDS=0
train -np 1 "$mnist" "${common[@]}" --epochs 20 : -np 1 timeout -s KILL 2 "$mnist" "${common[@]}" --epochs 20 \
    >"$work/out" 2>"$work/err" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q "signal 9\|exited on signal\|non-zero" "$work/err" &&
    [ "$SECONDS" -lt 60 ]; then ok
else fail "a killed rank 1: status $status after ${SECONDS}s: $(cat "$work/err")"; fi

# Different models on the ranks: refused before the first step, naming the rank.
status=0
train -np 1 "$mnist" "${common[@]}" --epochs 1 : -np 1 "$mnist" "${common[@]}" --epochs 1 --hidden 256 >"$work/out" 2>"$work/err" ||
    status=$?
if [ "$status" -ne 0 ] && grep -q "disagree on the model, the training recipe and the data" "$work/err" &&
    grep -q "rank 1 has" "$work/err" &&
    grep -q "(None, 256)" "$work/err"; then ok
else fail "different models on the ranks: status $status: $(cat "$work/err")"; fi

status=0
train -np 1 "$mnist" "${common[@]}" --epochs 1 : -np 1 "$mnist" "${common[@]}" --epochs 1 --lr 0.01 \
    >"$work/out" 2>"$work/err" || status=$?
if [ "$status" -ne 0 ] && grep -q "rank 1 has" "$work/err" && grep -q "lr=0.01" "$work/err"; then ok
else fail "different learning rates on the ranks: status $status: $(cat "$work/err")"; fi
status=0
train -np 1 "$mnist" "${common[@]}" --epochs 1 : -np 1 "$mnist" "${common[@]}" --epochs 1 --batch-size 64 \
    >"$work/out" 2>"$work/err" || status=$?
if [ "$status" -ne 0 ] && grep -q "rank 1 has" "$work/err" && grep -q "batch_size 64" "$work/err"; then ok
else fail "different batch sizes on the ranks: status $status: $(cat "$work/err")"; fi

echo "distributed: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
