// Helpers for the naive reference kernels that tests compare the fast ones against: plain
// loops on one thread, elements read as long double and found by their multi-index, so
// that a reference shares neither the fast kernel's arithmetic order, its precision, nor
// its index arithmetic. Internal to ops/.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

#include <adjoint/core/tensor.hpp>

namespace adjoint::ops::naive {

using Index = std::array<std::int64_t, Shape::max_rank>;

// The multi-index of row-major element i of shape s.
inline Index unravel(std::int64_t i, const Shape& s) {
    Index idx{};
    for (std::size_t k = s.rank(); k-- > 0;) {
        idx[k] = i % s[k];
        i /= s[k];
    }
    return idx;
}

// The row-major position of multi-index idx in shape s.
inline std::int64_t ravel(const Index& idx, const Shape& s) {
    std::int64_t i = 0;
    for (std::size_t k = 0; k < s.rank(); ++k) i = i * s[k] + idx[k];
    return i;
}

// Element i of t, whatever its dtype.
inline long double get(const Tensor& t, std::int64_t i) {
    return visit_dtype(t.dtype(), [&](auto tag) {
        return static_cast<long double>(t.data<decltype(tag)>()[static_cast<std::size_t>(i)]);
    });
}

// Element i of t set to v (converted once: rounded for floating dtypes; for integer
// dtypes, v is a whole number within 64 bits, wrapped around as integer sums wrap).
inline void set(Tensor& t, std::int64_t i, long double v) {
    visit_dtype(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_integral_v<T>)
            t.data<T>()[static_cast<std::size_t>(i)] =
                static_cast<T>(static_cast<std::make_unsigned_t<T>>(static_cast<std::int64_t>(v)));
        else t.data<T>()[static_cast<std::size_t>(i)] = static_cast<T>(v);
    });
}

}  // namespace adjoint::ops::naive
