// Reduction kernels shared by sum and max. Internal to ops/.
//
// The reduced axes are first folded into the form (outer, R, inner) when they are one
// contiguous block (after dropping size-1 dims); every reduction the network needs has
// that form, and it is walked with unit strides. Other axis sets use a general walk.
#pragma once

#include <array>

#include "../core/parallel.hpp"
#include <adjoint/core/tensor.hpp>

namespace adjoint::ops {

struct Folded {
    bool contiguous = false;
    std::int64_t outer = 1, r = 1, inner = 1;
};

// `mask[i]`: axis i is reduced.
Folded fold(const Shape& s, const std::array<bool, Shape::max_rank>& mask);

// y[o, i] = reduce over r of x[o, r, i], with `op` an associative combine. The terms of
// each output are combined in a fixed order (eight interleaved partial results for long
// contiguous runs, so the loop vectorises, then merged left to right): deterministic.
template <class T, class Op>
void reduce_folded(const T* __restrict x, T* __restrict y, const Folded& f, T identity, Op op) {
    const std::int64_t O = f.outer, R = f.r, I = f.inner;
    if (I == 1) {
        auto run = [&](const T* p, std::int64_t n) {
            std::array<T, 8> acc;
            acc.fill(identity);
            std::int64_t j = 0;
            for (; j + 8 <= n; j += 8)
                for (int l = 0; l < 8; ++l) acc[l] = op(acc[l], p[j + l]);
            for (; j < n; ++j) acc[0] = op(acc[0], p[j]);
            T s = acc[0];
            for (int l = 1; l < 8; ++l) s = op(s, acc[l]);
            return s;
        };
        if (O == 1) {  // one long run: ordered chunks
            y[0] = parallel_reduce_ordered<T>(
                R, 1 << 14, identity, [&](std::int64_t b, std::int64_t e) { return run(x + b, e - b); }, op);
            return;
        }
        parallel_chunks(O, std::max<std::int64_t>(1, (1 << 14) / std::max<std::int64_t>(R, 1)),
                        [&](std::int64_t o0, std::int64_t o1) {
                            for (std::int64_t o = o0; o < o1; ++o) y[o] = run(x + o * R, R);
                        });
        return;
    }
    // Rows of `inner` elements are combined in order into the output row: split over
    // (outer, column block) so that each task owns its outputs.
    constexpr std::int64_t cols = 1024;
    const std::int64_t blocks = (I + cols - 1) / cols;
    parallel_chunks(O * blocks, 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t o = t / blocks, j0 = (t % blocks) * cols, j1 = std::min(I, j0 + cols);
            T* __restrict yr = y + o * I;
            for (std::int64_t j = j0; j < j1; ++j) yr[j] = identity;
            for (std::int64_t r = 0; r < R; ++r) {
                const T* __restrict xr = x + (o * R + r) * I;
                for (std::int64_t j = j0; j < j1; ++j) yr[j] = op(yr[j], xr[j]);
            }
        }
    });
}

// Any axis set: each output element walks its reduced sub-block in row-major order.
template <class T, class Op>
void reduce_general(const T* x, T* y, const Shape& s, const std::array<bool, Shape::max_rank>& mask, T identity,
                    Op op) {
    const std::size_t rank = s.rank();
    std::array<std::int64_t, Shape::max_rank> stride{};
    std::int64_t st = 1, outputs = 1;
    for (std::size_t k = rank; k-- > 0;) {
        stride[k] = st;
        st *= s[k];
        if (!mask[k]) outputs *= s[k];
    }
    parallel_chunks(outputs, 64, [&](std::int64_t o0, std::int64_t o1) {
        for (std::int64_t o = o0; o < o1; ++o) {
            // Base offset from the kept dims' indices.
            std::int64_t rem = o, base = 0;
            for (std::size_t k = rank; k-- > 0;)
                if (!mask[k]) {
                    base += (rem % s[k]) * stride[k];
                    rem /= s[k];
                }
            std::array<std::int64_t, Shape::max_rank> idx{};
            T acc = identity;
            for (;;) {
                std::int64_t off = base;
                for (std::size_t k = 0; k < rank; ++k)
                    if (mask[k]) off += idx[k] * stride[k];
                acc = op(acc, x[off]);
                std::size_t k = rank;  // odometer over the reduced dims
                while (k-- > 0) {
                    if (!mask[k]) continue;
                    if (++idx[k] < s[k]) break;
                    idx[k] = 0;
                }
                if (k == static_cast<std::size_t>(-1)) break;
            }
            y[o] = acc;
        }
    });
}

}  // namespace adjoint::ops
