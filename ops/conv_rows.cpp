// The fused first layer's row kernels on AVX-512 (the maths and why: conv_rows.hpp).
#include "conv_rows.hpp"

#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "../core/isa.hpp"

namespace adjoint::ops {

namespace {

// relu's scalar rule (Relu::f) on 16 lanes: v < 0 (ordered: not NaN, not -0.0) ? 0 : v.
[[gnu::target("avx512f")]] inline __m512 relu16(__m512 v) {
    const __m512 z = _mm512_setzero_ps();
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, z, _CMP_LT_OQ), z);
}

// Positions j0 .. j0 + P - 1 of the row by NV vectors of 16 filters: P NV sums in
// registers; per tap, NV loads of the filter row and P broadcasts of the image.
template <int NV, int P>
[[gnu::target("avx512f")]] void conv_block(const TapRow& r, std::int64_t j0, const float* w, std::int64_t ldw,
                                           const float* bias, bool relu, std::int64_t nf, float* out) {
    __m512 acc[P][NV];
#pragma GCC unroll 16
    for (std::int64_t p = 0; p < P; ++p)
#pragma GCC unroll 4
        for (std::int64_t v = 0; v < NV; ++v) acc[p][v] = _mm512_setzero_ps();
    const float* x = r.x + j0 * r.step;
    for (std::int64_t t = 0; t < r.taps; ++t) {
        __m512 wt[NV];
#pragma GCC unroll 4
        for (std::int64_t v = 0; v < NV; ++v) wt[v] = _mm512_loadu_ps(w + t * ldw + 16 * v);
        const float* xt = x + r.off[t];
#pragma GCC unroll 16
        for (std::int64_t p = 0; p < P; ++p) {
            const __m512 a = _mm512_set1_ps(xt[p * r.step]);
#pragma GCC unroll 4
            for (std::int64_t v = 0; v < NV; ++v) acc[p][v] = _mm512_add_ps(acc[p][v], _mm512_mul_ps(a, wt[v]));
        }
    }
#pragma GCC unroll 16
    for (std::int64_t p = 0; p < P; ++p)
#pragma GCC unroll 4
        for (std::int64_t v = 0; v < NV; ++v) {
            __m512 s = _mm512_add_ps(acc[p][v], _mm512_loadu_ps(bias + 16 * v));
            if (relu) s = relu16(s);
            _mm512_storeu_ps(out + (j0 + p) * nf + 16 * v, s);
        }
}

// Blocks of 12 / NV positions (12 sums in registers), then one position at a time.
template <int NV>
void conv_row_nv(const TapRow& r, const float* w, std::int64_t ldw, const float* bias, bool relu, float* out) {
    constexpr int P = 12 / NV;
    std::int64_t j = 0;
    for (; j + P <= r.count; j += P) conv_block<NV, P>(r, j, w, ldw, bias, relu, 16 * NV, out);
    for (; j < r.count; ++j) conv_block<NV, 1>(r, j, w, ldw, bias, relu, 16 * NV, out);
}

// Taps t0 .. t0 + TB - 1 by NV vectors of 16 filters: TB NV sums in registers across the
// row; per position, NV loads of dz and TB broadcasts of the image.
template <int NV, int TB>
[[gnu::target("avx512f")]] void grad_block(const TapRow& r, std::int64_t t0, const float* dz, float* dw,
                                           std::int64_t ldw) {
    __m512 acc[TB][NV];
#pragma GCC unroll 16
    for (std::int64_t t = 0; t < TB; ++t)
#pragma GCC unroll 4
        for (std::int64_t v = 0; v < NV; ++v) acc[t][v] = _mm512_loadu_ps(dw + (t0 + t) * ldw + 16 * v);
    const std::int64_t* off = r.off + t0;
    for (std::int64_t j = 0; j < r.count; ++j) {
        __m512 d[NV];
#pragma GCC unroll 4
        for (std::int64_t v = 0; v < NV; ++v) d[v] = _mm512_loadu_ps(dz + j * 16 * NV + 16 * v);
        const float* xj = r.x + j * r.step;
#pragma GCC unroll 16
        for (std::int64_t t = 0; t < TB; ++t) {
            const __m512 a = _mm512_set1_ps(xj[off[t]]);
#pragma GCC unroll 4
            for (std::int64_t v = 0; v < NV; ++v) acc[t][v] = _mm512_add_ps(acc[t][v], _mm512_mul_ps(a, d[v]));
        }
    }
#pragma GCC unroll 16
    for (std::int64_t t = 0; t < TB; ++t)
#pragma GCC unroll 4
        for (std::int64_t v = 0; v < NV; ++v) _mm512_storeu_ps(dw + (t0 + t) * ldw + 16 * v, acc[t][v]);
}

// The taps in blocks of sizeof...(B) (12 or 6: 12 to 24 sums in registers), the last block
// by the kernel of its size (B + 1 for B in 0 .. sizeof...(B) - 1).
template <int NV, int... B>
void grad_row_nv(const TapRow& r, const float* dz, float* dw, std::int64_t ldw, std::integer_sequence<int, B...>) {
    constexpr std::int64_t most = sizeof...(B);
    for (std::int64_t t0 = 0; t0 < r.taps; t0 += most) {
        const std::int64_t n = std::min(most, r.taps - t0);
        const auto run = [&]<int size>() {
            if (n != size) return false;
            grad_block<NV, size>(r, t0, dz, dw, ldw);
            return true;
        };
        static_cast<void>((run.template operator()<B + 1>() || ...));
    }
}

}  // namespace

bool conv_rows_apply(std::int64_t nf) { return isa() == Isa::avx512 && (nf == 16 || nf == 32 || nf == 64); }

void conv_row(const TapRow& row, const float* w, std::int64_t ldw, const float* bias, bool relu, std::int64_t nf,
              float* out) {
    switch (nf) {
        case 16: return conv_row_nv<1>(row, w, ldw, bias, relu, out);
        case 32: return conv_row_nv<2>(row, w, ldw, bias, relu, out);
        default: return conv_row_nv<4>(row, w, ldw, bias, relu, out);
    }
}

void filter_grad_row(const TapRow& row, const float* dz, std::int64_t nf, float* dw, std::int64_t ldw) {
    switch (nf) {
        case 16: return grad_row_nv<1>(row, dz, dw, ldw, std::make_integer_sequence<int, 12>{});
        case 32: return grad_row_nv<2>(row, dz, dw, ldw, std::make_integer_sequence<int, 12>{});
        default: return grad_row_nv<4>(row, dz, dw, ldw, std::make_integer_sequence<int, 6>{});
    }
}

}  // namespace adjoint::ops
