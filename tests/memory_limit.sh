# Sourced by the test scripts: with_memory_limit MB COMMAND... runs COMMAND with at most
# MB megabytes of memory, as an address-space limit (ulimit -v). A program built with a
# sanitizer needs terabytes of address space for its shadow memory, so where the programs
# under test are sanitized (say so once: memory_limit_for PROGRAM), the sanitizer's
# allocator refuses any single allocation over MB instead.
memory_limit_sanitized=
memory_limit_for() {
    local libs
    libs=$(ldd "$1" 2>/dev/null || true)
    [[ $libs == *libasan* || $libs == *libtsan* ]] && memory_limit_sanitized=1 || memory_limit_sanitized=
}
with_memory_limit() {
    local mb=$1
    shift
    if [ -n "$memory_limit_sanitized" ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=$mb" \
            TSAN_OPTIONS="${TSAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=$mb" "$@"
    else
        # glibc reserves up to 64 MB of address space per thread for its arenas: with many
        # cores, threads rather than what the program allocates would reach the limit.
        (ulimit -v $((mb * 1024)) && MALLOC_ARENA_MAX=2 exec "$@")
    fi
}
