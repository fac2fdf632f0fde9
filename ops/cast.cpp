// N = number of elements; y[i] = convert(x[i]).
#include <adjoint/ops/cast.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

namespace {

template <class To, class From> To convert(From v) {
    if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
        if (v != v) return To(0);
        constexpr double lo = static_cast<double>(std::numeric_limits<To>::lowest());
        constexpr double hi = static_cast<double>(std::numeric_limits<To>::max());
        const double d = std::trunc(static_cast<double>(v));
        return d <= lo   ? std::numeric_limits<To>::lowest()
               : d >= hi ? std::numeric_limits<To>::max()
                         : static_cast<To>(d);
    } else if constexpr (std::is_integral_v<From> && std::is_integral_v<To> && sizeof(To) < sizeof(From)) {
        // i32 -> u8 saturates too.
        return v < From(0) ? To(0) : v > From(std::numeric_limits<To>::max()) ? std::numeric_limits<To>::max() : To(v);
    } else {
        return static_cast<To>(v);
    }
}

void cast_elements(const Tensor& x, Tensor& y) {
    visit_dtype(x.dtype(), [&](auto from_tag) {
        visit_dtype(y.dtype(), [&](auto to_tag) {
            using From = decltype(from_tag);
            using To = decltype(to_tag);
            const From* a = x.data<From>().data();
            To* b = y.data<To>().data();
            parallel_chunks(x.numel(), elementwise_grain, [&](std::int64_t s, std::int64_t e) {
                for (std::int64_t i = s; i < e; ++i) b[i] = convert<To>(a[i]);
            });
        });
    });
}

}  // namespace

std::string Cast::attrs() const { return fmt::format("to={}", dtype_name(to)); }
Cast Cast::from_attrs(const Attrs& a) {
    a.only({"to"});
    return {a.dtype("to")};
}

TypedShape Cast::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    return {in[0].shape, to};
}

void Cast::forward(const Inputs& x, Tensor& y) const { cast_elements(x[0], y); }

// Naive: through long double, which holds every value of every dtype exactly; to an
// integer type: NaN is 0, else round toward zero and clamp to the type's range.
void Cast::reference(const Inputs& x, Tensor& y) const {
    visit_dtype(to, [&](auto tag) {
        using To = decltype(tag);
        for (std::int64_t i = 0; i < x[0].numel(); ++i) {
            long double v = naive::get(x[0], i);
            if constexpr (std::is_integral_v<To>) {
                v = std::isnan(v)
                        ? 0
                        : std::clamp(std::trunc(v), static_cast<long double>(std::numeric_limits<To>::lowest()),
                                     static_cast<long double>(std::numeric_limits<To>::max()));
            }
            y.data<To>()[static_cast<std::size_t>(i)] = static_cast<To>(v);
        }
    });
}

// Between floating types: dx = dy cast back. To or from integers: no gradient, as in
// TensorFlow.
Grads Cast::gradient(const GradContext& c) const {
    if (!is_floating(to) || !is_floating(c.x[0].dtype())) return grads(c, no_gradient);
    return grads(c, [&] { return cast(c.dy, c.x[0].dtype()); });
}

TypedShape StopGradient::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    return in[0];
}

void StopGradient::forward(const Inputs& x, Tensor& y) const { std::memcpy(y.raw(), x[0].raw(), y.nbytes()); }
void StopGradient::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < x[0].numel(); ++i) naive::set(y, i, naive::get(x[0], i));
}

// The point of the op: nothing flows back.
Grads StopGradient::gradient(const GradContext& c) const { return grads(c, no_gradient); }

}  // namespace adjoint::ops

namespace adjoint {

Expr cast(const Expr& x, DType to, SourceLocation loc) { return ops::make_listed(ops::Cast{to}, {x}, loc); }
Expr stop_gradient(const Expr& x, SourceLocation loc) { return ops::make_listed(ops::StopGradient{}, {x}, loc); }

}  // namespace adjoint
