// The inner loops of the fused first layer (ops/conv2d_max_pool.cpp) on AVX-512: a row of
// convolution positions against a block of 16, 32 or 64 filters. Internal to ops/.
//
// Why they are fast: the portable loops keep their sums in memory (a row of positions,
// filters innermost, one tap after another), so each multiply-add loads and stores its
// sum. These keep a block of sums in registers across all the taps: forward, a few
// positions by the filters (each tap loads its filter row once and broadcasts one input
// per position); for the filter's gradient, a block of taps by the filters, across the
// row of positions (each position loads its dz once and broadcasts one input per tap).
//
// Why they give the portable loops' bits: the same operations in the same order. Each
// product is rounded, then added (a multiply and an add, no FMA: the project is built with
// -ffp-contract=off, which keeps the portable loops from fusing them, and GCC, which may
// fuse even these intrinsics, from fusing them here); a position's sum runs over the
// taps in order from 0, then the bias is added and relu applied; a filter gradient element
// adds the row's positions in order to what it held. So the AVX-512, AVX2 and portable
// paths agree bit for bit (tested in tests/ops/test_conv2d_max_pool.cpp).
#pragma once

#include <cstdint>

namespace adjoint::ops {

// A row of `count` convolution positions over an image: tap t (of `taps`) of position j
// reads x[j step + off[t]].
struct TapRow {
    const float* x = nullptr;
    std::int64_t step = 0;
    const std::int64_t* off = nullptr;
    std::int64_t taps = 0, count = 0;
};

// Whether the kernels below run: the AVX-512 kernels are in use (core/isa.hpp) and nf is
// 16, 32 or 64.
bool conv_rows_apply(std::int64_t nf);

// out[j nf + f] = relu?(bias[f] + the sum over t of x[j step + off[t]] w[t ldw + f]), for
// j < count and f < nf.
void conv_row(const TapRow& row, const float* w, std::int64_t ldw, const float* bias, bool relu, std::int64_t nf,
              float* out);

// dw[t ldw + f] += x[j step + off[t]] dz[j nf + f], over j < count in order, for t < taps
// and f < nf.
void filter_grad_row(const TapRow& row, const float* dz, std::int64_t nf, float* dw, std::int64_t ldw);

}  // namespace adjoint::ops
