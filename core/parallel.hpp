// Intra-op parallelism for kernels. Work is cut into chunks whose bounds depend only on
// the problem size, never on the thread count, and partial results are combined in chunk
// order: so every kernel gives the same bits on 1, 2 or 64 threads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "isa.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace adjoint {

// Calls f(begin, end) with f's loops compiled for the instruction set in use
// (core/isa.hpp): f is inlined into one function per instruction set, each built for its
// target (AVX-512, AVX2, baseline x86-64), and the call picks one. So loops the compiler
// vectorises use 16 or 8 float lanes where the CPU has them, without building for one CPU,
// and ADJOINT_MAX_ISA caps them as it caps the GEMM. FMA contraction is off for the whole
// project (meson.build) and IEEE rules still hold (no reassociation), so every version
// gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__)
template <class F>
[[gnu::target("avx512f"), gnu::flatten]] void call_avx512(const F& f, std::int64_t begin, std::int64_t end) {
    f(begin, end);
}
template <class F>
[[gnu::target("avx2"), gnu::flatten]] void call_avx2(const F& f, std::int64_t begin, std::int64_t end) {
    f(begin, end);
}
#endif
template <class F> void call_isa_cloned(const F& f, std::int64_t begin, std::int64_t end) {
#if defined(__x86_64__) && defined(__GNUC__)
    switch (isa()) {
        case Isa::avx512: return call_avx512(f, begin, end);
        case Isa::avx2: return call_avx2(f, begin, end);
        case Isa::portable: break;
    }
#endif
    f(begin, end);
}

// Elements per chunk of an element-wise loop (the element-wise ops, broadcasts, casts,
// where, dropout, the optimizers' updates): 4096, 16 KB of f32. The MNIST network's
// hidden activations (128 x 512) make 16 chunks, enough for a 16-core machine, where
// 16384 made 4. TBB's partitioner still hands each thread a run of chunks when threads
// are few, so 2 threads pay for nothing but a call per chunk (BENCHMARKS.md). An
// element-wise result does not depend on its chunks; sums, which do, keep their own
// grains.
constexpr std::int64_t elementwise_grain = std::int64_t{1} << 12;

// Calls f(begin, end) for consecutive chunks of [0, n) of `grain` items each (the last
// may be shorter), in parallel, through call_isa_cloned().
template <class F> void parallel_chunks(std::int64_t n, std::int64_t grain, F&& f) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    const std::int64_t chunks = (n + grain - 1) / grain;
    if (chunks == 1) {
        call_isa_cloned(f, std::int64_t{0}, n);
        return;
    }
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, chunks), [&](const auto& r) {
        for (std::int64_t c = r.begin(); c != r.end(); ++c) call_isa_cloned(f, c * grain, std::min(n, (c + 1) * grain));
    });
}

// Deterministic parallel reduction of [0, n): partial(begin, end) reduces one chunk,
// combine(a, b) merges two partials; chunks are at least `grain` items and at most 64,
// merged left to right.
template <class T, class Partial, class Combine>
T parallel_reduce_ordered(std::int64_t n, std::int64_t grain, T identity, Partial&& partial, Combine&& combine) {
    constexpr std::int64_t max_chunks = 64;
    if (n <= 0) return identity;
    const std::int64_t size =
        std::max<std::int64_t>(std::max<std::int64_t>(grain, 1), (n + max_chunks - 1) / max_chunks);
    const std::int64_t chunks = (n + size - 1) / size;
    std::array<T, max_chunks> parts;
    parallel_chunks(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t c = c0; c < c1; ++c)
            parts[static_cast<std::size_t>(c)] = partial(c * size, std::min(n, (c + 1) * size));
    });
    T acc = identity;
    for (std::int64_t c = 0; c < chunks; ++c) acc = combine(acc, parts[static_cast<std::size_t>(c)]);
    return acc;
}

}  // namespace adjoint
