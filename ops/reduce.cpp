// Reductions. Legend: the input is viewed as (O, R, I) = (outer, reduced, inner) where
// possible (reduce_kernel.hpp); y has the kept dims.
#include <adjoint/ops/reduce.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "naive.hpp"
#include "op_list.hpp"
#include "reduce_kernel.hpp"
#include <adjoint/ops/cast.hpp>
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/shape_ops.hpp>
#include <adjoint/ops/where.hpp>

namespace adjoint::ops {

Shape reduced_shape(const Shape& s, std::span<const int> axes, bool keepdims) {
    const auto mask = axis_mask(axes, s.rank());
    Shape out;
    for (std::size_t i = 0; i < s.rank(); ++i) {
        const bool reduced = axes.empty() || mask[i];
        if (!reduced) out.push_back(s[i]);
        else if (keepdims) out.push_back(1);
    }
    return out;
}

namespace {

std::array<bool, Shape::max_rank> full_mask(const Shape& s, std::span<const int> axes) {
    auto mask = axis_mask(axes, s.rank());
    if (axes.empty()) mask.fill(true);
    return mask;
}

std::string reduce_attrs(std::span<const int> axes, bool keepdims) {
    return fmt::format("axes={} keepdims={}", axes.empty() ? "all" : format_axes(axes), keepdims);
}
// sum, prod, max and min read their attributes back alike.
template <class R> R reduce_from_attrs(const Attrs& a) {
    a.only({"axes", "keepdims"});
    return {a.axes("axes"), a.boolean("keepdims")};
}
// sum and prod: the reduced shape; u8 is refused (its sums and products overflow at once).
TypedShape arithmetic_infer(std::string_view op, std::span<const TypedShape> in, std::span<const int> axes,
                            bool keepdims) {
    expect_inputs(in, 1);
    if (in[0].dtype == DType::u8)
        throw std::invalid_argument(fmt::format("{} of u8 would overflow: cast to i32 or f32 first", op));
    return {reduced_shape(in[0].shape, axes, keepdims), in[0].dtype};
}

// y = reduce(x) over the masked axes with `op`.
template <class T, class Op> void reduce(const Tensor& x, Tensor& y, std::span<const int> axes, T identity, Op op) {
    const auto mask = full_mask(x.shape(), axes);
    const T* xs = x.data<T>().data();
    T* ys = y.data<T>().data();
    const Folded f = fold(x.shape(), mask);
    if (x.numel() == 0) {
        for (std::int64_t i = 0; i < y.numel(); ++i) ys[i] = identity;
    } else if (f.contiguous) {
        reduce_folded<T>(xs, ys, f, identity, op);
    } else {
        reduce_general<T>(xs, ys, x.shape(), mask, identity, op);
    }
}

struct Plus {
    // Integers wrap around on overflow (two's complement), as numpy's sums do: adding in
    // the unsigned type is defined, and converting back is modular (C++20).
    template <class T> T operator()(T a, T b) const {
        if constexpr (std::is_integral_v<T>) {
            using U = std::make_unsigned_t<T>;
            return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
        } else {
            return a + b;
        }
    }
};
struct Times {  // integers wrap around, as Plus
    template <class T> T operator()(T a, T b) const {
        if constexpr (std::is_integral_v<T>) {
            using U = std::make_unsigned_t<T>;
            return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
        } else {
            return a * b;
        }
    }
};
struct Larger {  // NaN wins, as in numpy
    template <class T> T operator()(T a, T b) const { return b > a || b != b ? b : a; }
};
struct Smaller {  // NaN wins here too
    template <class T> T operator()(T a, T b) const { return b < a || b != b ? b : a; }
};

template <class T> T lowest() {
    if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::lowest();
}
template <class T> T highest() {
    if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::max();
}

}  // namespace

// The naive reduction: y[o] = combine over the x elements whose kept dims index o, in
// row-major order of x, in long double. An integer max of no elements cannot happen (the
// shape rule refuses empty max axes).
template <class Combine>
void naive_reduce(const Tensor& x, Tensor& y, std::span<const int> axes, long double identity, Combine combine) {
    const auto mask = full_mask(x.shape(), axes);
    std::vector<long double> acc(static_cast<std::size_t>(y.numel()), identity);
    Shape kept;
    for (std::size_t k = 0; k < x.shape().rank(); ++k)
        if (!mask[k]) kept.push_back(x.shape()[k]);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        const naive::Index idx = naive::unravel(i, x.shape());
        naive::Index out{};
        std::size_t r = 0;
        for (std::size_t k = 0; k < x.shape().rank(); ++k)
            if (!mask[k]) out[r++] = idx[k];
        long double& a = acc[static_cast<std::size_t>(naive::ravel(out, kept))];
        a = combine(a, naive::get(x, i));
    }
    for (std::int64_t o = 0; o < y.numel(); ++o) naive::set(y, o, acc[static_cast<std::size_t>(o)]);
}

// ---- sum

std::string Sum::attrs() const { return reduce_attrs(axes, keepdims); }
Sum Sum::from_attrs(const Attrs& a) { return reduce_from_attrs<Sum>(a); }

TypedShape Sum::infer(std::span<const TypedShape> in, std::int64_t) const {
    return arithmetic_infer(name, in, axes, keepdims);
}

void Sum::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) { reduce<decltype(tag)>(x[0], y, axes, decltype(tag)(0), Plus{}); });
}
// Naive: every x element, in row-major order, is added in long double to the output its
// kept dims index.
void Sum::reference(const Inputs& x, Tensor& y) const {
    naive_reduce(x[0], y, axes, 0.0L, [](long double acc, long double v) { return acc + v; });
}

namespace {
// dy of a reduction, reshaped to keepdims form so that it broadcasts against x.
Expr kept(const Expr& dy, const Expr& x, std::span<const int> axes, bool keepdims) {
    return keepdims ? dy : reshape(dy, reduced_shape(x.shape(), axes, true));
}
}  // namespace

// y = sum of x over axes: every x element moves y by dx = 1, so dx = dy broadcast back.
Grads Sum::gradient(const GradContext& c) const {
    return grads(c, [&] { return broadcast_to(kept(c.dy, c.x[0], axes, keepdims), c.x[0].shape()); });
}

// ---- prod

std::string Prod::attrs() const { return reduce_attrs(axes, keepdims); }
Prod Prod::from_attrs(const Attrs& a) { return reduce_from_attrs<Prod>(a); }

TypedShape Prod::infer(std::span<const TypedShape> in, std::int64_t) const {
    return arithmetic_infer(name, in, axes, keepdims);
}

void Prod::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) { reduce<decltype(tag)>(x[0], y, axes, decltype(tag)(1), Times{}); });
}
// Naive: every x element, in row-major order, multiplies in long double the output its kept
// dims index. (An integer product that wraps is checked against the kernel directly.)
void Prod::reference(const Inputs& x, Tensor& y) const {
    naive_reduce(x[0], y, axes, 1.0L, [](long double acc, long double v) { return acc * v; });
}

// y = prod of x over axes: dy/dx_i = the product of the others, as PyTorch's rule:
//   no zero in the group:  dx_i = dy * y / x_i
//   one zero:              dx = dy * (product of the nonzero ones) at the zero, 0 elsewhere
//   two zeros or more:     dx = 0
// with p = the product of the nonzero elements (x with its zeros made 1), which is y when
// there is no zero. Each branch is built of differentiable ops, so second order works.
Grads Prod::gradient(const GradContext& c) const {
    return grads(c, [&] {
        const Expr& x = c.x[0];
        const std::vector<int> ax(axes.begin(), axes.end());
        const auto is = [](const Expr& e, double v) { return equal(e, scalar_like(e, v, SourceLocation::current())); };
        const Expr zero = is(x, 0);
        const Expr zeros = sum(cast(zero, x.dtype()), ax, true);  // per group
        const Expr nonzero = where(zero, 1.0, x);
        const Expr p = prod(nonzero, ax, true);
        const Expr at_the_zero = where(zero, mask(p, cast(is(zeros, 1), x.dtype())), 0.0);
        const Expr others = where(is(zeros, 0), p / nonzero, at_the_zero);
        return kept(c.dy, x, axes, keepdims) * others;
    });
}

// ---- max

std::string Max::attrs() const { return reduce_attrs(axes, keepdims); }
Max Max::from_attrs(const Attrs& a) { return reduce_from_attrs<Max>(a); }

namespace {
// max and min: the reduced shape; an empty axis has no extreme.
TypedShape extreme_infer(std::string_view op, std::span<const TypedShape> in, std::span<const int> axes,
                         bool keepdims) {
    expect_inputs(in, 1);
    const auto mask = full_mask(in[0].shape, axes);
    for (std::size_t i = 0; i < in[0].shape.rank(); ++i)
        if (mask[i] && in[0].shape[i] == 0)
            throw std::invalid_argument(fmt::format("{} over axis {} of {}, which is empty", op, i, in[0].shape));
    return {reduced_shape(in[0].shape, axes, keepdims), in[0].dtype};
}
}  // namespace

TypedShape Max::infer(std::span<const TypedShape> in, std::int64_t) const {
    return extreme_infer(name, in, axes, keepdims);
}

void Max::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(),
                [&](auto tag) { reduce<decltype(tag)>(x[0], y, axes, lowest<decltype(tag)>(), Larger{}); });
}
void Max::reference(const Inputs& x, Tensor& y) const {
    naive_reduce(x[0], y, axes, -std::numeric_limits<long double>::infinity(), [](long double acc, long double v) {
        return std::isnan(acc) || std::isnan(v) ? NAN : std::max(acc, v);
    });
}

namespace {
// y = max (or min) of x over axes: dy goes to the elements that are the extreme (the NaNs,
// when there are), split evenly between ties (as TensorFlow does):
//   dx = dy / #{x is y}  where x is y, else 0
// selected by mask, so an infinite dy gives the other elements 0, not 0 * inf.
Grads extreme_gradient(const GradContext& c, std::span<const int> axes, bool keepdims) {
    return grads(c, [&] {
        const Expr is_it = cast(same(c.x[0], kept(c.y, c.x[0], axes, keepdims)), c.x[0].dtype());
        return mask(kept(c.dy, c.x[0], axes, keepdims) / sum(is_it, {axes.begin(), axes.end()}, true), is_it);
    });
}
}  // namespace

Grads Max::gradient(const GradContext& c) const { return extreme_gradient(c, axes, keepdims); }

// ---- min: max's mirror

std::string Min::attrs() const { return reduce_attrs(axes, keepdims); }
Min Min::from_attrs(const Attrs& a) { return reduce_from_attrs<Min>(a); }
TypedShape Min::infer(std::span<const TypedShape> in, std::int64_t) const {
    return extreme_infer(name, in, axes, keepdims);
}
void Min::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(),
                [&](auto tag) { reduce<decltype(tag)>(x[0], y, axes, highest<decltype(tag)>(), Smaller{}); });
}
void Min::reference(const Inputs& x, Tensor& y) const {
    naive_reduce(x[0], y, axes, std::numeric_limits<long double>::infinity(), [](long double acc, long double v) {
        return std::isnan(acc) || std::isnan(v) ? NAN : std::min(acc, v);
    });
}
Grads Min::gradient(const GradContext& c) const { return extreme_gradient(c, axes, keepdims); }

// ---- element_count

std::string ElementCount::attrs() const { return fmt::format("axes={}", axes.empty() ? "all" : format_axes(axes)); }
ElementCount ElementCount::from_attrs(const Attrs& a) {
    a.only({"axes"});
    return {a.axes("axes")};
}

TypedShape ElementCount::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    expect_floating(in[0], "x");
    (void)axis_mask(axes, in[0].shape.rank());
    return {Shape{}, in[0].dtype};
}

void ElementCount::forward(const Inputs& x, Tensor& y) const {
    const auto mask = full_mask(x[0].shape(), axes);
    double n = 1;
    for (std::size_t i = 0; i < x[0].shape().rank(); ++i)
        if (mask[i]) n *= static_cast<double>(x[0].shape()[i]);
    visit_floating(y.dtype(), name, [&](auto tag) { y.data<decltype(tag)>()[0] = static_cast<decltype(tag)>(n); });
}
// Naive: counts, one by one, the positions of an odometer over the reduced dims.
void ElementCount::reference(const Inputs& x, Tensor& y) const {
    const auto mask = full_mask(x[0].shape(), axes);
    std::vector<std::int64_t> dims;  // the reduced dims
    for (std::size_t k = 0; k < x[0].shape().rank(); ++k)
        if (mask[k]) dims.push_back(x[0].shape()[k]);
    std::int64_t n = 0;
    const bool empty = std::find(dims.begin(), dims.end(), 0) != dims.end();
    for (std::vector<std::int64_t> idx(dims.size(), 0); !empty;) {
        ++n;
        std::size_t k = dims.size();
        while (k > 0 && ++idx[k - 1] == dims[k - 1]) idx[--k] = 0;
        if (k == 0) break;  // every digit wrapped: all positions counted
    }
    naive::set(y, 0, static_cast<long double>(n));
}

// Depends on x's shape only, not its values: no gradient.
Grads ElementCount::gradient(const GradContext& c) const { return grads(c, no_gradient); }

}  // namespace adjoint::ops

namespace adjoint {

Expr sum(const Expr& x, std::vector<int> axes, bool keepdims, SourceLocation loc) {
    return ops::make_listed(ops::Sum{std::move(axes), keepdims}, {x}, loc);
}

Expr prod(const Expr& x, std::vector<int> axes, bool keepdims, SourceLocation loc) {
    return ops::make_listed(ops::Prod{std::move(axes), keepdims}, {x}, loc);
}

Expr max(const Expr& x, std::vector<int> axes, bool keepdims, SourceLocation loc) {
    return ops::make_listed(ops::Max{std::move(axes), keepdims}, {x}, loc);
}

Expr min(const Expr& x, std::vector<int> axes, bool keepdims, SourceLocation loc) {
    return ops::make_listed(ops::Min{std::move(axes), keepdims}, {x}, loc);
}

Expr mean(const Expr& x, std::vector<int> axes, bool keepdims, SourceLocation loc) {
    const Expr s = sum(x, axes, keepdims, loc);
    const Shape shape = x.shape();
    auto mask = axis_mask(axes, shape.rank());
    if (axes.empty()) mask.fill(true);
    double n = 1;  // in double: the reduced dims of an empty tensor may multiply past 2^63
    bool known = true;
    for (std::size_t i = 0; i < shape.rank(); ++i)
        if (mask[i]) {
            if (shape[i] == batch) known = false;
            else n *= static_cast<double>(shape[i]);
        }
    // An empty reduction gives 0 * inf = NaN, as numpy's mean does.
    if (known) return ops::make_listed(ops::Mul{}, {s, scalar_like(x, 1.0 / n, loc)}, loc);
    return ops::make_listed(ops::Div{}, {s, element_count(x, std::move(axes), loc)}, loc);
}

Expr element_count(const Expr& x, std::vector<int> axes, SourceLocation loc) {
    return ops::make_listed(ops::ElementCount{std::move(axes)}, {x}, loc);
}

}  // namespace adjoint
