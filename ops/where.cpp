// N = number of elements of y; each input has N elements or one.
#include <adjoint/ops/where.hpp>

#include <cmath>
#include <cstring>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

TypedShape Where::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 3);
    if (in[0].dtype != DType::u8)
        throw std::invalid_argument(
            fmt::format("the condition has dtype {}; it must be u8 (a comparison's result, "
                        "or cast to u8)",
                        dtype_name(in[0].dtype)));
    expect_same_dtype(in[1], in[2]);
    // The shape: the first input that is not a single element (all of them the same).
    Shape shape;
    for (const TypedShape& t : in)
        if (t.shape.rank() > 0) {
            shape = t.shape;
            break;
        }
    for (std::size_t i = 0; i < 3; ++i)
        if (in[i].shape.rank() > 0 && in[i].shape != shape)
            throw std::invalid_argument(
                fmt::format("input {} has shape {}, input {} {}: where() broadcasts them", i, in[i].shape, 0, shape));
    return {shape, in[1].dtype};
}

// Copies whole elements (as bytes of their size), so every bit is kept.
void Where::forward(const Inputs& x, Tensor& y) const {
    const std::uint8_t* c = x[0].data<std::uint8_t>().data();
    const auto* a = static_cast<const std::byte*>(x[1].raw());
    const auto* b = static_cast<const std::byte*>(x[2].raw());
    auto* out = static_cast<std::byte*>(y.raw());
    const std::size_t size = dtype_size(y.dtype());
    // A single element is read at index 0 (stride 0).
    const std::int64_t sc = x[0].numel() == 1 ? 0 : 1, sa = x[1].numel() == 1 ? 0 : 1, sb = x[2].numel() == 1 ? 0 : 1;
    parallel_chunks(y.numel(), elementwise_grain, [&](std::int64_t s, std::int64_t e) {
        for (std::int64_t i = s; i < e; ++i) {
            const std::byte* from = c[i * sc] != 0 ? a + static_cast<std::size_t>(i * sa) * size
                                                   : b + static_cast<std::size_t>(i * sb) * size;
            std::memcpy(out + static_cast<std::size_t>(i) * size, from, size);
        }
    });
}

// Naive: element by element through naive::get/set (values, not bytes: NaN stays NaN).
void Where::reference(const Inputs& x, Tensor& y) const {
    auto at = [](const Tensor& t, std::int64_t i) { return naive::get(t, t.numel() == 1 ? 0 : i); };
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, at(x[0], i) != 0 ? at(x[1], i) : at(x[2], i));
}

// y = cond ? a : b: da = cond ? dy : 0, db = cond ? 0 : dy (selected, never multiplied:
// an infinite dy gives the other side 0, not NaN); the condition has none. A single-element
// a or b gets its gradient summed back by the autograd pass.
Grads Where::gradient(const GradContext& c) const {
    const Expr zero = scalar_like(c.dy, 0.0, SourceLocation::current());
    return grads(
        c, no_gradient, [&] { return where(c.x[0], c.dy, zero); }, [&] { return where(c.x[0], zero, c.dy); });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr where(const Expr& cond, const Expr& a, const Expr& b, SourceLocation loc) {
    for (const Expr* e : {&cond, &a, &b})
        if (!e->valid())
            throw Error(fmt::format("where ({}): an input is an empty Expr (default-constructed)", where(loc)));
    // numpy broadcasting of the three, by broadcast_to where an input is neither the
    // result's shape nor a single element.
    Shape shape;
    try {
        shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
    } catch (const std::exception& e) {
        throw Error(
            fmt::format("where on {}, {}, {}: {} ({})", cond.shape(), a.shape(), b.shape(), e.what(), where(loc)));
    }
    auto fit = [&](const Expr& e) {
        return e.shape() == shape || e.shape().rank() == 0 ? e : broadcast_to(e, shape, loc);
    };
    return ops::make_listed(ops::Where{}, {fit(cond), fit(a), fit(b)}, loc);
}

Expr where(const Expr& cond, const Expr& a, double b, SourceLocation loc) {
    return where(cond, a, scalar_like(a, b, loc), loc);
}
Expr where(const Expr& cond, double a, const Expr& b, SourceLocation loc) {
    return where(cond, scalar_like(b, a, loc), b, loc);
}

Expr leaky_relu(const Expr& x, double alpha, SourceLocation loc) {
    if (!std::isfinite(alpha)) throw Error(fmt::format("leaky_relu: alpha {} is not finite ({})", alpha, where(loc)));
    const Expr zero = scalar_like(x, 0.0, loc);
    return where(greater(x, zero, loc), x, mul(x, scalar_like(x, alpha, loc), loc), loc);
}

Expr elu(const Expr& x, double alpha, SourceLocation loc) {
    if (!std::isfinite(alpha)) throw Error(fmt::format("elu: alpha {} is not finite ({})", alpha, where(loc)));
    const Expr zero = scalar_like(x, 0.0, loc);
    const Expr negative = mul(expm1(minimum(x, zero, loc), loc), scalar_like(x, alpha, loc), loc);
    return where(greater(x, zero, loc), x, negative, loc);
}

Expr clip(const Expr& x, double lo, double hi, SourceLocation loc) {
    if (std::isnan(lo) || std::isnan(hi) || lo > hi)
        throw Error(fmt::format("clip \"{}\": the bounds [{}, {}] are not an interval ({})", x.valid() ? x.name() : "",
                                lo, hi, where(loc)));
    return minimum(maximum(x, scalar_like(x, lo, loc), loc), scalar_like(x, hi, loc), loc);
}

}  // namespace adjoint
