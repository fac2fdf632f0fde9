#!/usr/bin/env bash
# SIGKILL inside `mnist --save` at >= 100 random moments. Each attempt trains one step from
# checkpoint A and saves over A (--load A --save A), with a wide hidden layer (a ~52 MB
# checkpoint: its save takes a while). The process is inside the save while it holds the
# save's temporary open (an unnamed file in A's folder, or a ".w.ckpt.adjoint-*" one), as
# /proc/PID/fd shows. Calibration measures S, the (median) time from the temporary's
# appearance to the process's exit; each attempt waits for the temporary to appear, then a
# random delay in [0, 1.2 S], and sends SIGKILL. A kill counts if the temporary was still
# open just before it; at least 100 must. After every kill A must load and be either byte
# for byte the previous checkpoint or a complete new one; a temporary (".w.ckpt.*") beside
# it right after a kill is counted; after every save that completes, none may remain (a
# save removes those killed saves left).
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a decimal point
mnist=$1
make_data=$2
hidden=${KILL_SAVE_HIDDEN:-16384}
min_kills=100 max_attempts=800  # a busy machine lands fewer kills inside the save: more tries, same bar
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
# epoch's line has come. finish: waits for it; status: its exit status.
mkfifo "$work/stdout"
start() {
    "$mnist" "${flags[@]}" --load "$A" --save "$A" >"$work/stdout" 2>"$work/err" &
    pid=$!
    exec {out}<"$work/stdout"
    local line=""
    IFS= read -r line <&"$out" || true
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

# Whether the process holds the save's temporary open: the unnamed file (its link reads
# "<folder>/#<inode> (deleted)") or a named one.
in_save() {
    local fds
    fds=$(ls -l "/proc/$pid/fd" 2>/dev/null || true)
    [[ $fds == *"$work/#"* || $fds == *"$work/.w.ckpt.adjoint-"* ]]
}

# Waits (busy: the save is short) until the process holds the temporary or has exited.
await_save() {
    while kill -0 "$pid" 2>/dev/null && ! in_save; do :; done
}

# Calibration: S, the median of five runs from the temporary's appearance to the exit (the
# machine may be busy: the longest would make most kills come too late).
durations=()
for _ in 1 2 3 4 5; do
    start
    await_save
    t_save=$(now_us)
    finish
    [ "$status" -eq 0 ] || fail "a calibration run exited with $status: $(head -c 300 "$work/err")"
    durations+=($(($(now_us) - t_save)))
    completed
done
S=$(printf '%s\n' "${durations[@]}" | sort -n | sed -n 3p)
echo "kill_save: --hidden $hidden, checkpoint $(stat -c %s "$A") bytes, save to exit S = $((S / 1000)) ms"

attempts=0 kills=0 in_saves=0 left_old=0 left_new=0 temporaries_after_kill=0 completed_saves=0
while [ "$in_saves" -lt "$min_kills" ] && [ "$attempts" -lt "$max_attempts" ] && [ "$failures" -eq 0 ]; do
    attempts=$((attempts + 1))
    delay=$((RANDOM * 12 * S / 327670))  # uniform in [0, 1.2 S] µs
    start
    await_save
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    saving=false
    in_save && saving=true
    kill -9 "$pid" 2>/dev/null || true
    finish
    if [ "$status" -eq 137 ]; then  # killed while still running
        kills=$((kills + 1))
        $saving && in_saves=$((in_saves + 1))
        [ "$(temporaries)" -gt 0 ] && temporaries_after_kill=$((temporaries_after_kill + 1))
        if ! "$make_data" check "$A" >"$work/check" 2>&1; then
            fail "after a kill $((delay / 1000)) ms into the save, A does not load: $(cat "$work/check")"
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

echo "kill_save: $attempts attempts, $kills kills landed, $in_saves of them inside the save ($left_old left the" \
    "old file, $left_new the new one), $completed_saves saves completed; temporaries: $temporaries_after_kill" \
    "right after a kill, $left after the last save; $failures failed"
[ "$in_saves" -ge "$min_kills" ] ||
    fail "only $in_saves kills landed inside the save in $attempts attempts (at least $min_kills wanted)"
[ "$failures" -eq 0 ]
