// numpy broadcasting, for kernels: walks an output shape while tracking where each
// input's element sits (stride 0 along broadcast dims). Internal to ops/.
#pragma once

#include <array>
#include <cstdint>

#include "../core/parallel.hpp"
#include <adjoint/core/tensor.hpp>

namespace adjoint::ops {

struct BroadcastIndex {
    std::size_t rank = 0;
    std::array<std::int64_t, Shape::max_rank> dims{};    // output dims
    std::array<std::int64_t, Shape::max_rank> a{}, b{};  // element strides of each input

    BroadcastIndex(const Shape& out, const Shape& sa, const Shape& sb);
    std::int64_t inner() const { return rank ? dims[rank - 1] : 1; }
    std::int64_t rows() const;
    // Offsets into a and b of the first element of output row r (r < rows()).
    void row_offsets(std::int64_t r, std::int64_t& oa, std::int64_t& ob) const;
};

// y[i] = f(a[i'], b[i'']) over y's shape, in parallel over rows of the output.
template <class Y, class T, class F> void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& y, F f) {
    const T* pa = a.data<T>().data();
    const T* pb = b.data<T>().data();
    Y* py = y.data<Y>().data();
    if (a.shape() == y.shape() && b.shape() == y.shape()) {  // the common case: one flat loop
        parallel_chunks(y.numel(), elementwise_grain, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t i = s; i < e; ++i) py[i] = f(pa[i], pb[i]);
        });
        return;
    }
    const BroadcastIndex ix(y.shape(), a.shape(), b.shape());
    const std::int64_t n = ix.inner(), sa = ix.rank ? ix.a[ix.rank - 1] : 0, sb = ix.rank ? ix.b[ix.rank - 1] : 0;
    const std::int64_t grain = std::max<std::int64_t>(1, elementwise_grain / std::max<std::int64_t>(n, 1));
    parallel_chunks(ix.rows(), grain, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
            std::int64_t oa, ob;
            ix.row_offsets(r, oa, ob);
            Y* row = py + r * n;
            if (sa == 1 && sb == 1)
                for (std::int64_t j = 0; j < n; ++j) row[j] = f(pa[oa + j], pb[ob + j]);
            else
                for (std::int64_t j = 0; j < n; ++j) row[j] = f(pa[oa + j * sa], pb[ob + j * sb]);
        }
    });
}

}  // namespace adjoint::ops
