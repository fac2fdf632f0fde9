// Rows of logits, for softmax and the cross-entropies: R = rows (all dims but the last),
// C = classes (the last dim). Shape rules, the stable per-row kernels they share, and the
// long double rows of their naive references. Internal to ops/.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include <adjoint/ops/op.hpp>

namespace adjoint::ops::rows {

// The shape of the rows: all dims of the logits but the last.
inline Shape of(const Shape& logits) {
    Shape s;
    for (std::size_t i = 0; i + 1 < logits.rank(); ++i) s.push_back(logits[i]);
    return s;
}

// The shape rule of logits: floating, with a class dim of at least one class.
inline void expect_logits(const TypedShape& t) {
    expect_floating(t, "logits");
    if (t.shape.rank() == 0) throw std::invalid_argument("logits must have a class dim (rank >= 1)");
    if (t.shape.back() == 0) throw std::invalid_argument(fmt::format("logits {} have no classes", t.shape));
}

// A row's logsumexp in two parts, max m and log(sum(exp(x - m))), for the cross-entropy
// lse - x_c = (m - x_c) + log_sum: adding m back first would lose the log to rounding at
// large logits ([1e30, 1e30, 1e30] would give 1e30 - 1e30 = 0, not log 3). NaN in a row
// (or +inf, which makes inf - inf) gives NaN.
template <class T> struct LogSumExp { T max, log_sum; };
template <class T> LogSumExp<T> logsumexp(const T* x, std::int64_t C) {
    T m = x[0];
    for (std::int64_t c = 1; c < C; ++c) m = x[c] > m ? x[c] : m;
    T s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
    return {m, std::log(s)};
}

// Calls row(r) for every row, in parallel.
template <class F> void for_rows(std::int64_t R, std::int64_t C, F row) {
    parallel_chunks(R, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(C, 1)),
                    [&](std::int64_t r0, std::int64_t r1) {
                        for (std::int64_t r = r0; r < r1; ++r) row(r);
                    });
}

// y = softmax of one row x of C values: max, exp(x - max) and their sum, then divide.
template <class T> void softmax_row(const T* x, T* y, std::int64_t C) {
    T m = x[0];
    for (std::int64_t c = 1; c < C; ++c) m = x[c] > m ? x[c] : m;
    T s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += y[c] = std::exp(x[c] - m);
    for (std::int64_t c = 0; c < C; ++c) y[c] /= s;
}

// Every label in [0, C), checked before any output is written: the error names the
// first bad row.
template <class L> void check_labels(const L* lab, std::int64_t R, std::int64_t C) {
    for (std::int64_t r = 0; r < R; ++r)
        if (static_cast<std::int64_t>(lab[r]) < 0 || static_cast<std::int64_t>(lab[r]) >= C)
            throw Error(
                fmt::format("label {} in row {} is out of range [0, {})", static_cast<std::int64_t>(lab[r]), r, C));
}

// Row r of a (..., C) tensor as long doubles, its max and log(sum(exp(x - max))).
struct NaiveRow {
    std::vector<long double> x;
    long double max = 0, log_sum = 0;
    NaiveRow(const Tensor& t, std::int64_t r, std::int64_t C) : x(static_cast<std::size_t>(C)) {
        for (std::int64_t c = 0; c < C; ++c) x[static_cast<std::size_t>(c)] = naive::get(t, r * C + c);
        max =
            *std::max_element(x.begin(), x.end(), [](long double a, long double b) { return a < b || std::isnan(b); });
        long double s = 0;
        for (long double v : x) s += std::exp(v - max);
        log_sum = std::log(s);
    }
    // softmax, and logsumexp - x_c, without forming logsumexp itself
    long double p(std::int64_t c) const { return std::exp(x[static_cast<std::size_t>(c)] - max - log_sum); }
    long double minus_log_p(std::int64_t c) const { return (max - x[static_cast<std::size_t>(c)]) + log_sum; }
};

// R, the number of rows of the logits.
inline std::int64_t count(const Tensor& logits) {
    const std::int64_t C = logits.shape().back();
    return C ? logits.numel() / C : 0;
}

}  // namespace adjoint::ops::rows
