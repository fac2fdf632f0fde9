#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

void expect_inputs(std::span<const TypedShape> in, std::size_t n) {
    if (in.size() != n) throw std::invalid_argument(fmt::format("expects {} inputs, got {}", n, in.size()));
}

void expect_floating(const TypedShape& t, std::string_view which) {
    if (!is_floating(t.dtype))
        throw std::invalid_argument(
            fmt::format("{} has dtype {}; this op takes f32 or f64", which, dtype_name(t.dtype)));
}

void expect_same_dtype(const TypedShape& a, const TypedShape& b) {
    if (a.dtype != b.dtype)
        throw std::invalid_argument(
            fmt::format("dtypes {} and {} differ (cast one of them)", dtype_name(a.dtype), dtype_name(b.dtype)));
}

std::string format_axes(std::span<const int> axes) {
    std::string s = "[";
    for (std::size_t i = 0; i < axes.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", axes[i]);
    return s + "]";
}

}  // namespace adjoint::ops

namespace adjoint {

Expr scalar_like(const Expr& x, double value, SourceLocation loc) {
    Tensor scalar;
    try {
        scalar = Tensor::full(Shape{}, value, x.dtype());
    } catch (const Error& e) {
        throw Error(fmt::format("the scalar operand at {} does not fit \"{}\": {}", where(loc), x.name(), e.what()));
    }
    return x.graph().constant(std::move(scalar), loc);
}

}  // namespace adjoint
