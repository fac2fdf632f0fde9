#!/usr/bin/env bash
# Hostile inputs end to end through the driver (tools/mnist), one or a few cases per kind:
# spoiled data files (truncated, bit-flipped, forged dims, wrong types and ranks, a gzip
# bomb, a 1 TB sparse file, a directory, a FIFO, a symbolic link loop, a device, a file of
# another user), spoiled --load checkpoints, --save targets that cannot be written, and bad
# flags that tests/e2e_mnist.sh does not try. Each run is under a 3 GB memory limit
# (tests/memory_limit.sh) and a 120 s timeout (a FIFO must not block); each must exit 1
# (runtime) or 2 (flags), name the file, tensor or flag on stderr, and leave every file as
# it was: the data, the --load file, and the --save target (a checkpoint of the user's,
# which a failed run must not touch). No network: the data is a tiny MNIST-format folder
# made by make_data.
set -euo pipefail
mnist=$1
make_data=$2
work=$(mktemp -d)
cleanup() {
    chmod -R u+rwX "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"  # uid 65534 runs some cases
passed=0 failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() { passed=$((passed + 1)); }

# 3 GB of address space (ulimit -v), or in a sanitized build (which needs terabytes for its
# shadow memory) the sanitizer allocator's limit on any one allocation.
# shellcheck source=tests/memory_limit.sh
source "$(dirname "$0")/../memory_limit.sh"
memory_limit_for "$mnist"
limited() { with_memory_limit 3000 timeout 120 "$@"; }
root=false
[ "$(id -u)" -eq 0 ] && root=true
runner=()                     # a prefix for the command: setpriv, to run as another user
preset=(--hidden 32 --threads 2 --quiet)  # a small model; each case adds its own flags

# Everything under $work as it is: type and mode of every entry, size and time of every
# one but folders (the driver tries whether it can create a file in the --save folder),
# and the bytes of every regular file under 100 MB (not the 1 TB sparse ones; not FIFOs,
# which would block). out and err are the runs' own.
# (Not root: what a mode of 000 hides, a folder's entries or a file's bytes, is left out.)
snapshot() {
    { find "$work" \( -name out -o -name err \) -prune -o -type d -printf '%y %m %p\n' 2>/dev/null || true; } | sort
    { find "$work" \( -name out -o -name err \) -prune -o ! -type d -printf '%y %m %s %T@ %p\n' 2>/dev/null || true; } |
        sort
    { find "$work" \( -name out -o -name err \) -prune -o -type f -readable -size -100M -print0 2>/dev/null || true; } |
        sort -z | xargs -0 -r sha256sum
}

# expect STATUS LABEL NAME... -- FLAGS...: runs mnist with the preset flags and FLAGS; it
# must exit with STATUS, name every NAME on stderr, and change no file.
expect() {
    local want=$1 label=$2
    shift 2
    local names=()
    while [ "$1" != "--" ]; do
        names+=("$1")
        shift
    done
    shift
    local before after status=0
    before=$(snapshot)
    limited "${runner[@]}" "$mnist" "${preset[@]}" "$@" >"$work/out" 2>"$work/err" || status=$?
    after=$(snapshot)
    local why=""
    [ "$status" -eq "$want" ] || why="exit status $status, expected $want"
    for name in "${names[@]}"; do
        grep -qF -- "$name" "$work/err" || why="${why:+$why; }stderr does not name '$name'"
    done
    [ "$before" = "$after" ] || why="${why:+$why; }files changed: $(diff <(echo "$before") <(echo "$after") | head -5 || true)"
    if [ -n "$why" ]; then
        fail "$label: $why; stderr: $(head -c 600 "$work/err")"
    else
        ok
    fi
    if [ -n "${HOSTILE_VERBOSE:-}" ]; then echo "$label: exit $status: $(head -n 1 "$work/err" | head -c 300)"; fi
}

# As another user: uid 65534 when root (else the files are made unreadable by mode). If
# uid 65534 cannot run the driver here (a checkout under a folder only root may enter,
# say), root cannot play another user and the case is skipped, saying so.
other=(setpriv --reuid=65534 --regid=65534 --clear-groups)
skipped=0
if $root && ! "${other[@]}" "$mnist" --help >/dev/null 2>&1; then
    echo "hostile_cli: uid 65534 cannot run $mnist here: the cases as another user are skipped" >&2
    other=()
fi
expect_as_other() {
    if $root && [ ${#other[@]} -eq 0 ]; then
        skipped=$((skipped + 1))
        return
    fi
    if $root; then runner=("${other[@]}"); fi
    expect "$@"
    runner=()
}

# --- The user's files ---------------------------------------------------------------------
data=$work/data
"$make_data" data "$data" 256 64  # train images and test labels gzip, the others raw
"$mnist" --data-dir "$data" --hidden 32 --epochs 1 --quiet --save "$work/good.ckpt" >/dev/null
cp "$work/good.ckpt" "$work/keep.ckpt"  # the checkpoint a failed run must leave as it is
keep=(--save "$work/keep.ckpt")
d=$work/d
fresh() {  # a copy of the data to spoil
    chmod -R u+rwX "$d" 2>/dev/null || true
    rm -rf "$d"
    cp -a "$data" "$d"
}
patch_bytes() {  # patch_bytes FILE OFFSET '\xHH...': overwrites bytes in place
    printf '%b' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
TI=train-images-idx3-ubyte TL=train-labels-idx1-ubyte VI=t10k-images-idx3-ubyte VL=t10k-labels-idx1-ubyte

# --- Data files: exit 1, naming the file --------------------------------------------------
fresh && head -c 1000 "$data/$TI.gz" >"$d/$TI.gz"
expect 1 "train images (gzip) cut short" "$TI.gz" -- --data-dir "$d" "${keep[@]}"
fresh && head -c -4 "$data/$TI.gz" >"$d/$TI.gz"
expect 1 "train images (gzip) cut inside the trailer" "$TI.gz" "cut short" -- --data-dir "$d" "${keep[@]}"
fresh && truncate -s 5000 "$d/$VI"
expect 1 "test images (raw) cut short" "$VI" "need 50176 bytes of data, the file has 4984" -- --data-dir "$d" "${keep[@]}"
fresh && patch_bytes "$d/$TL" 0 '\x01'
expect 1 "train labels: a bit of the magic flipped" "$TL" "not an IDX file" -- --data-dir "$d" "${keep[@]}"
fresh && patch_bytes "$d/$TI.gz" 5000 '\x55\xaa'
expect 1 "train images: gzip data flipped" "$TI.gz" -- --data-dir "$d" "${keep[@]}"
fresh && patch_bytes "$d/$VI" 4 '\xff\xff\xff\xff'
expect 1 "test images: dim 0 forged to 2^32 - 1" "$VI" "dims 4294967295 x 28 x 28 of u8 need" -- --data-dir "$d" "${keep[@]}"
fresh && patch_bytes "$d/$VI" 2 '\x0e\x03\xff\xff\xff\xff\xff\xff\xff\xff'
expect 1 "test images: f64 dims that overflow" "$VI" "overflow" -- --data-dir "$d" "${keep[@]}"
fresh && printf '\x00\x00\x08\x03\x00\x10\x00\x00\x00\x10\x00\x00\x00\x00\x04\x00' | gzip -c >"$d/$TI.gz"
expect 1 "train images: a tiny gzip declaring 1 PB" "$TI.gz" "more than a gzip file of" -- --data-dir "$d" "${keep[@]}"
fresh && { printf '\x00\x00\x0d\x01\x00\x00\x01\x00' && head -c 1024 /dev/zero; } >"$d/$TL"
expect 1 "train labels of type f32" "$TL" "expected u8 of rank 1" -- --data-dir "$d" "${keep[@]}"
fresh && { printf '\x00\x00\x08\x02\x00\x00\x00\x40\x00\x00\x03\x10' && head -c 50176 /dev/zero; } | gzip -c >"$d/$VI"
expect 1 "test images of rank 2" "$VI" "expected u8 of rank 3" -- --data-dir "$d" "${keep[@]}"
fresh && patch_bytes "$d/$TL" 2 '\x42'
expect 1 "train labels: type byte 0x42" "$TL" "unknown IDX element type 0x42" -- --data-dir "$d" "${keep[@]}"
fresh && patch_bytes "$d/$TL" 3 '\x09'
expect 1 "train labels: rank byte 9" "$TL" "rank 9 is not supported" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$TI.gz" && "$make_data" bomb "$d/$TI.gz" 256
expect 1 "train images: a 1 MB gzip bomb of 1 GiB" "$TI.gz" "trailing bytes" -- --data-dir "$d" "${keep[@]}"
fresh && printf 'x' >>"$d/$VI"
expect 1 "test images: a trailing byte" "$VI" "the file has 50177" -- --data-dir "$d" "${keep[@]}"
fresh && { printf '\x00\x00\x08\x01\x00\x00\x01\x00' && head -c 256 /dev/zero | tr '\0' '\012'; } >"$d/$TL"
expect 1 "train labels of 10" "$TL" "label 10 at index 0" -- --data-dir "$d" "${keep[@]}"
fresh && { printf '\x00\x00\x08\x01\x00\x00\x00\xff' && head -c 255 /dev/zero; } >"$d/$TL"
expect 1 "255 train labels for 256 images" "$TL" "has 255 labels" -- --data-dir "$d" "${keep[@]}"
fresh && : >"$d/$TL"
expect 1 "train labels: an empty file" "$TL" "shorter than the 4-byte IDX magic" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$TI.gz" && mkdir "$d/$TI"
expect 1 "train images: a directory" "neither $TI nor $TI.gz" "$d" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$TL" && mkfifo "$d/$TL"
expect 1 "train labels: a FIFO" "neither $TL nor $TL.gz" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$VI" && ln -s "$VI" "$d/$VI"
expect 1 "test images: a symbolic link loop" "$VI" "Too many levels of symbolic links" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$VL.gz" && ln -s /dev/zero "$d/$VL.gz"
expect 1 "test labels: /dev/zero" "neither $VL nor $VL.gz" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$VL.gz"
expect 1 "test labels: missing" "neither $VL nor $VL.gz" -- --data-dir "$d" "${keep[@]}"
fresh && rm "$d/$TI.gz" && printf '\x00\x00\x08\x03\x00\x10\x00\x00\x00\x00\x04\x00\x00\x00\x04\x00' >"$d/$TI" &&
    truncate -s $((16 + (1 << 40))) "$d/$TI"
expect 1 "train images: a 1 TB sparse file that fits its header" "$TI" -- --data-dir "$d" "${keep[@]}"
fresh && chmod 600 "$d/$VI"
$root || chmod 000 "$d/$VI"
expect_as_other 1 "test images: another user's 0600 file" "$VI" "Permission denied" -- --data-dir "$d"
fresh && chmod 700 "$d"
$root || chmod 000 "$d"
expect_as_other 1 "the data folder: another user's 0700 folder" "$TI" "Permission denied" -- --data-dir "$d"
fresh
expect 2 "--data-dir: a regular file" "--data-dir" -- --data-dir "$d/$VI" "${keep[@]}"
ln -s loop "$work/loop"
expect 2 "--data-dir: a symbolic link loop" "$work/loop" -- --data-dir "$work/loop" "${keep[@]}"

# --- --load checkpoints: exit 1 naming the file (and the tensor), or 2 naming --load ------
good=$work/good.ckpt bad=$work/bad.ckpt
spoil() { cp "$good" "$bad" && patch_bytes "$bad" "$1" "$2"; }
# The toy file: magic 0, version 8, count 12; "dense/kernel": name length 16, name 20,
# dtype 32, rank 33, dims 34 and 42, byte count 50, data 58 (784 x 32 x 4 bytes).
head -c 1000 "$good" >"$bad"
expect 1 "--load cut inside dense/kernel" "$bad" '"dense/kernel"' "is truncated" -- --data-dir "$data" --load "$bad" "${keep[@]}"
head -c 40 "$good" >"$bad"
expect 1 "--load cut inside the dims" "$bad" '"dense/kernel"' "a dim of tensor" -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 200 '\x01'
expect 1 "--load: a data byte changed" "$bad" '"dense/kernel"' "CRC-32" -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 0 'X'
expect 1 "--load: bad magic" "$bad" "bad magic" -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 16 '\xff\xff\xff\xff'
expect 1 "--load: a name length of 2^32 - 1" "$bad" "a name needs 4294967295 bytes" -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 32 '\x01'
expect 1 "--load: dense/kernel as f64" "$bad" '"dense/kernel"' "needs 200704 bytes, the file says 100352" -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 33 '\x09'
expect 1 "--load: rank 9" "$bad" '"dense/kernel" has rank 9' -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 34 '\xff\xff\xff\xff\xff\xff\xff\x7f'
expect 1 "--load: a dim of 2^63 - 1" "$bad" '"dense/kernel" has an impossible dim' -- --data-dir "$data" --load "$bad" "${keep[@]}"
spoil 50 '\xfc\xff\xff\xff\xff\xff\xff\xff'
expect 1 "--load: a byte count of 2^64 - 4" "$bad" '"dense/kernel"' -- --data-dir "$data" --load "$bad" "${keep[@]}"
"$make_data" nan "$good" "$bad"
expect 1 "--load: a NaN weight" "$bad" '"dense/kernel" holds nan at index 1' -- --data-dir "$data" --load "$bad" "${keep[@]}"
"$make_data" drop "$good" "$bad" dense_1/bias
expect 1 "--load: a tensor missing" "$bad" 'no tensor "dense_1/bias"' -- --data-dir "$data" --load "$bad" "${keep[@]}"
"$make_data" extra "$good" "$bad"
expect 1 "--load: an extra tensor" "$bad" '"extra/tensor", which the model does not have' -- --data-dir "$data" --load "$bad" "${keep[@]}"
cp "$good" "$bad" && printf 'x' >>"$bad"
expect 1 "--load: a trailing byte" "$bad" "1 trailing bytes" -- --data-dir "$data" --load "$bad" "${keep[@]}"
: >"$bad"
expect 1 "--load: an empty file" "$bad" "is truncated" -- --data-dir "$data" --load "$bad" "${keep[@]}"
cp "$data/$TI.gz" "$bad"
expect 1 "--load: an IDX file" "$bad" "bad magic" -- --data-dir "$data" --load "$bad" "${keep[@]}"
cp "$good" "$bad" && truncate -s $((1 << 40)) "$bad"
expect 1 "--load: a 1 TB sparse file" "$bad" "out of memory" -- --data-dir "$data" --load "$bad" "${keep[@]}"
head -c 1000 "$good" >"$bad"
expect 1 "--evaluate-only --load cut short" "$bad" '"dense/kernel"' -- --data-dir "$data" --load "$bad" --evaluate-only "${keep[@]}"
rm "$bad" && mkdir "$bad"
expect 2 "--load: a directory" "--load" "$bad" -- --data-dir "$data" --load "$bad" "${keep[@]}"
rmdir "$bad" && mkfifo "$bad"
expect 2 "--load: a FIFO" "--load" "$bad" -- --data-dir "$data" --load "$bad" "${keep[@]}"
expect 2 "--load: /dev/zero" "--load" "/dev/zero" -- --data-dir "$data" --load /dev/zero "${keep[@]}"
expect 2 "--load: a symbolic link loop" "$work/loop" -- --data-dir "$data" --load "$work/loop" "${keep[@]}"
rm "$bad" && cp "$good" "$bad" && chmod 600 "$bad"
$root || chmod 000 "$bad"
expect_as_other 1 "--load: another user's 0600 file" "$bad" "Permission denied" -- --data-dir "$data" --load "$bad"
chmod 600 "$bad"

# --- --save targets that cannot be written: the old file stays ---------------------------
mkfifo "$work/fifo.ckpt"
expect 2 "--save onto a FIFO" "--save" "$work/fifo.ckpt" "is a FIFO, not a regular file" -- --data-dir "$data" --save "$work/fifo.ckpt"
expect 1 "--save after the loss went NaN" "training stopped: the loss became NaN at step" "nothing was saved" -- --data-dir "$data" --lr 1e30 "${keep[@]}"
expect 1 "--check-numerics on a diverging run" "check_numerics: node" "No variable was changed" -- --data-dir "$data" --lr 1e30 --check-numerics "${keep[@]}"
expect 2 "--save: a symbolic link loop" "$work/loop" -- --data-dir "$data" --save "$work/loop"
mkdir "$work/ro" && cp "$good" "$work/ro/w.ckpt" && chmod 755 "$work/ro"
$root || chmod 555 "$work/ro"
expect_as_other 2 "--save into a folder of another user" "--save" "$work/ro" -- --data-dir "$data" --save "$work/ro/w.ckpt"

# --- Flags that tests/e2e_mnist.sh does not try: exit 2 naming the flag -------------------
expect 2 "--epochs -1" "--epochs" -- --data-dir "$data" --epochs -1 "${keep[@]}"
expect 2 "--epochs twice" "epochs" -- --data-dir "$data" --epochs 1 --epochs 2 "${keep[@]}"
preset=(--threads 2 --quiet)
expect 2 "--hidden 0" "--hidden" -- --data-dir "$data" --hidden 0 "${keep[@]}"
preset=(--hidden 32 --threads 2 --quiet)
expect 2 "--batch-size -1" "--batch-size" -- --data-dir "$data" --batch-size -1 "${keep[@]}"
expect 2 "--lr 0" "--lr" -- --data-dir "$data" --lr 0 "${keep[@]}"
expect 2 "--seed 2^64" "--seed" -- --data-dir "$data" --seed 18446744073709551616 "${keep[@]}"
expect 2 "--optimizer ''" "--optimizer" -- --data-dir "$data" --optimizer "" "${keep[@]}"
expect 2 "--threads abc" "threads" -- --data-dir "$data" --threads abc "${keep[@]}"
expect 2 "--json --quiet" "--quiet" -- --data-dir "$data" --json "${keep[@]}"  # (the preset has --quiet)
expect 2 "an unknown flag" "--bogus" -- --data-dir "$data" --bogus "${keep[@]}"

# --- --dump-graph onto a FIFO: refused up front, not blocked on ------------------------------
mkfifo "$work/graph.dot"
expect 2 "--dump-graph onto a FIFO" "--dump-graph" "is a FIFO" -- --data-dir "$data" --dump-graph "$work/graph.dot"
rm "$work/graph.dot"

echo "hostile_cli: $passed passed, $failures failed, $skipped skipped"
[ "$failures" -eq 0 ]
