// What a tensor's values look like, for finding where NaN and infinities come from:
// SessionOptions::check_numerics reports them for the first node that makes one, and
// `mnist --watch` prints them for chosen nodes.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

struct TensorStats {
    std::int64_t count = 0;                          // elements
    std::int64_t nan = 0, pos_inf = 0, neg_inf = 0;  // non-finite elements, by kind
    // Over the finite elements (NaN when there are none): min, max, mean and the L2 norm
    // sqrt(sum x^2), summed in long double in index order.
    double min = NAN, max = NAN, mean = NAN, l2 = NAN;
    std::optional<std::int64_t> first_non_finite;  // its flat index

    bool finite() const { return nan + pos_inf + neg_inf == 0; }
};

// Integer tensors are finite by nature: their values are counted as finite ones.
TensorStats tensor_stats(const Tensor& t);

// "min -1.5, max 2, mean 0.25, L2 3.1, 0 NaN, 0 +inf, 0 -inf" (the first non-finite's
// index too, when there is one).
std::string to_string(const TensorStats& s);

// Whether every element is finite (true for integer tensors): one pass, vectorised, no
// allocation; what check_numerics runs after every kernel.
bool all_finite(const Tensor& t);

}  // namespace adjoint
