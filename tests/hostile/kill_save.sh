#!/usr/bin/env bash
# SIGKILL during `mnist --save` at >= 100 random moments. Each attempt trains one step from
# checkpoint A and saves over A (--load A --save A), with a wide hidden layer (a ~52 MB
# checkpoint: its save takes a while); when the epoch's JSON line arrives (then come the
# evaluation on a tiny test set, the save and a last line), it waits a random delay in
# [0, 1.3 D], D being the (median) time from that line to the process's exit, measured first,
# and sends SIGKILL. A kill counts if the process was still alive (killed by signal 9).
# After every kill A must load and be either byte for byte the previous checkpoint or a
# complete new one; a temporary (".A.*") beside it right after a kill is counted; after
# every save that completes, none may remain (a save removes those killed saves left).
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a decimal point
mnist=$1
make_data=$2
hidden=${KILL_SAVE_HIDDEN:-16384}
min_kills=100 max_attempts=400
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
now_us() { echo "${EPOCHREALTIME/./}"; }
temporaries() { find "$work" -maxdepth 1 -name '.w.ckpt.*' | wc -l; }

"$make_data" data "$work/data" 32 16 >/dev/null
A=$work/w.ckpt prev=$work/prev.ckpt
flags=(--data-dir "$work/data" --hidden "$hidden" --epochs 1 --batch-size 32 --json)
"$mnist" "${flags[@]}" --save "$A" >/dev/null
"$make_data" check "$A" >/dev/null
cp "$A" "$prev"

# start: runs mnist --load A --save A with its stdout on a FIFO, and returns once the
# epoch's line has come (t0: then). finish: waits for it; status: its exit status.
mkfifo "$work/stdout"
start() {
    "$mnist" "${flags[@]}" --load "$A" --save "$A" >"$work/stdout" 2>"$work/err" &
    pid=$!
    exec {out}<"$work/stdout"
    local line=""
    IFS= read -r line <&"$out" || true
    t0=$(now_us)
    [[ "$line" == *'"epoch": 1'* ]] || fail "no epoch line from mnist, got '$line': $(head -c 300 "$work/err")"
}
finish() {
    status=0
    { wait "$pid" || status=$?; } 2>/dev/null  # (not bash's "Killed" line)
    pid=
    exec {out}<&-
}
# After a save that completed: A is a new checkpoint that loads, with no temporary beside it.
completed() {
    "$make_data" check "$A" >/dev/null || fail "after a completed save, A does not load"
    cmp -s "$A" "$prev" && fail "a completed save left A as it was"
    [ "$(temporaries)" -eq 0 ] || fail "a completed save left a temporary: $(ls -A "$work")"
    cp "$A" "$prev"
}

# Calibration: D, the median of five runs from the epoch line to the exit (the machine may
# be busy: the longest would make most kills come too late).
durations=()
for _ in 1 2 3 4 5; do
    start
    finish
    [ "$status" -eq 0 ] || fail "a calibration run exited with $status: $(head -c 300 "$work/err")"
    durations+=($(($(now_us) - t0)))
    completed
done
D=$(printf '%s\n' "${durations[@]}" | sort -n | sed -n 3p)
echo "kill_save: --hidden $hidden, checkpoint $(stat -c %s "$A") bytes, epoch line to exit D = $((D / 1000)) ms"

attempts=0 kills=0 left_old=0 left_new=0 temporaries_after_kill=0 completed_saves=0
while [ "$kills" -lt "$min_kills" ] && [ "$attempts" -lt "$max_attempts" ] && [ "$failures" -eq 0 ]; do
    attempts=$((attempts + 1))
    delay=$((RANDOM * 13 * D / 327670))  # uniform in [0, 1.3 D] µs
    start
    wait_us=$((t0 + delay - $(now_us)))
    [ "$wait_us" -gt 0 ] && sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
    kill -9 "$pid" 2>/dev/null || true
    finish
    if [ "$status" -eq 137 ]; then  # killed while still running
        kills=$((kills + 1))
        [ "$(temporaries)" -gt 0 ] && temporaries_after_kill=$((temporaries_after_kill + 1))
        if ! "$make_data" check "$A" >"$work/check" 2>&1; then
            fail "after a kill at $((delay / 1000)) ms, A does not load: $(cat "$work/check")"
        elif cmp -s "$A" "$prev"; then
            left_old=$((left_old + 1))
        else
            left_new=$((left_new + 1))  # a complete new checkpoint (it loads)
            cp "$A" "$prev"
        fi
    elif [ "$status" -eq 0 ]; then
        completed_saves=$((completed_saves + 1))
        completed
    else
        fail "mnist exited with $status: $(head -c 300 "$work/err")"
    fi
done

# A last save that completes removes whatever temporaries killed saves left.
start
finish
[ "$status" -eq 0 ] || fail "the last run exited with $status: $(head -c 300 "$work/err")"
completed
left=$(temporaries)

echo "kill_save: $attempts attempts, $kills kills landed ($left_old left the old file, $left_new the new one)," \
    "$completed_saves saves completed; temporaries: $temporaries_after_kill right after a kill," \
    "$left after the last save; $failures failed"
[ "$kills" -ge "$min_kills" ] || fail "only $kills kills landed in $attempts attempts (at least $min_kills wanted)"
[ "$failures" -eq 0 ]
