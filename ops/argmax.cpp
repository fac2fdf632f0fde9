// argmax: the input is viewed as (O, R, I) with R the axis; y[o, i] = the first r with the
// largest x[o, r, i] (the first NaN, if any, as numpy).
#include <adjoint/ops/argmax.hpp>

#include <cmath>

#include <adjoint/ops/reduce.hpp>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

std::string ArgMax::attrs() const { return fmt::format("axis={}", axis); }
ArgMax ArgMax::from_attrs(const Attrs& a) {
    a.only({"axis"});
    const std::int64_t axis = a.integer("axis");
    if (axis < -64 || axis > 64) throw std::invalid_argument(fmt::format("axis {} is out of range", axis));
    return {static_cast<int>(axis)};
}

TypedShape ArgMax::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    const int a[] = {axis};
    const Shape out = reduced_shape(in[0].shape, a, false);
    const auto mask = axis_mask(a, in[0].shape.rank());
    for (std::size_t i = 0; i < in[0].shape.rank(); ++i)
        if (mask[i] && in[0].shape[i] == 0)
            throw std::invalid_argument(fmt::format("argmax over an empty axis of {}", in[0].shape));
    return {out, DType::i32};
}

namespace {

template <class T> void argmax_rows(const T* x, std::int32_t* y, std::int64_t O, std::int64_t R, std::int64_t I) {
    auto rows = [&](std::int64_t o0, std::int64_t o1) {
        for (std::int64_t o = o0; o < o1; ++o)
            for (std::int64_t i = 0; i < I; ++i) {
                const T* p = x + o * R * I + i;
                std::int64_t best = 0;
                for (std::int64_t r = 1; r < R; ++r)
                    if (p[r * I] > p[best * I] || (p[r * I] != p[r * I] && p[best * I] == p[best * I])) best = r;
                y[o * I + i] = static_cast<std::int32_t>(best);
            }
    };
    parallel_chunks(O, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(R * I, 1)), rows);
}

template <class T> void argmax(const Tensor& x, Tensor& y, int axis) {
    const Shape& s = x.shape();
    const std::size_t a = static_cast<std::size_t>(axis < 0 ? axis + static_cast<int>(s.rank()) : axis);
    std::int64_t O = 1, I = 1;
    for (std::size_t i = 0; i < a; ++i) O *= s[i];
    for (std::size_t i = a + 1; i < s.rank(); ++i) I *= s[i];
    argmax_rows(x.data<T>().data(), y.data<std::int32_t>().data(), O, s[a], I);
}

}  // namespace

void ArgMax::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) { argmax<decltype(tag)>(x[0], y, axis); });
}
// Naive: for each output, walk the axis by multi-index; the first NaN wins, else the
// first of the largest values (numpy's argmax).
void ArgMax::reference(const Inputs& x, Tensor& y) const {
    const Shape& s = x[0].shape();
    const std::size_t a = static_cast<std::size_t>(axis < 0 ? axis + static_cast<int>(s.rank()) : axis);
    for (std::int64_t o = 0; o < y.numel(); ++o) {
        const naive::Index out = naive::unravel(o, y.shape());
        naive::Index idx{};
        for (std::size_t k = 0, r = 0; k < s.rank(); ++k) idx[k] = k == a ? 0 : out[r++];
        std::int64_t best = -1;
        long double best_value = 0;
        for (std::int64_t r = 0; r < s[a]; ++r) {
            idx[a] = r;
            const long double v = naive::get(x[0], naive::ravel(idx, s));
            if (std::isnan(v)) {
                best = r;
                break;
            }
            if (best < 0 || v > best_value) best = r, best_value = v;
        }
        y.data<std::int32_t>()[static_cast<std::size_t>(o)] = static_cast<std::int32_t>(best);
    }
}

// An index: piecewise constant, no gradient.
Grads ArgMax::gradient(const GradContext& c) const { return grads(c, no_gradient); }

}  // namespace adjoint::ops

namespace adjoint {

Expr argmax(const Expr& x, int axis, SourceLocation loc) { return ops::make_listed(ops::ArgMax{axis}, {x}, loc); }

}  // namespace adjoint
