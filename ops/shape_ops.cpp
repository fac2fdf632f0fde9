#include <adjoint/ops/shape_ops.hpp>

#include <algorithm>
#include <cstring>

#include "broadcast.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

// ---- transpose: R = rows of x, C = columns of x.  y[c, r] = x[r, c]

TypedShape Transpose::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    const Shape& s = in[0].shape;
    if (s.rank() != 2) throw std::invalid_argument(fmt::format("{} is not 2-D", s));
    return {Shape{s[1], s[0]}, in[0].dtype};
}

// 32 x 32 tiles: reads and writes both touch whole cache lines.
void Transpose::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* a = x[0].data<T>().data();
        T* b = y.data<T>().data();
        const std::int64_t R = x[0].shape()[0], C = x[0].shape()[1];
        constexpr std::int64_t tile = 32;
        const std::int64_t tiles_c = (C + tile - 1) / tile;
        parallel_chunks((R + tile - 1) / tile * tiles_c, 4, [&](std::int64_t t0, std::int64_t t1) {
            for (std::int64_t t = t0; t < t1; ++t) {
                const std::int64_t r0 = (t / tiles_c) * tile, c0 = (t % tiles_c) * tile;
                for (std::int64_t r = r0; r < std::min(R, r0 + tile); ++r)
                    for (std::int64_t c = c0; c < std::min(C, c0 + tile); ++c) b[c * R + r] = a[r * C + c];
            }
        });
    });
}

void Transpose::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t R = x[0].shape()[0], C = x[0].shape()[1];
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        auto a = x[0].data<T>();
        auto b = y.data<T>();
        for (std::int64_t r = 0; r < R; ++r)
            for (std::int64_t c = 0; c < C; ++c) b[c * R + r] = a[r * C + c];
    });
}

// y = x^T: dx = dy^T
Grads Transpose::gradient(const GradContext& c) const {
    return grads(c, [&] { return transpose(c.dy); });
}

// ---- reshape

std::string Reshape::attrs() const { return fmt::format("shape={}", shape); }
Reshape Reshape::from_attrs(const Attrs& a) {
    a.only({"shape"});
    return {a.shape("shape")};
}

TypedShape Reshape::infer(std::span<const TypedShape> in, std::int64_t batch_size) const {
    expect_inputs(in, 1);
    const Shape& from = in[0].shape;
    const Shape to = shape.resolve(batch_size);
    // While building, a batch dim must stay a batch dim: compare the other dims.
    auto batch_dims = [](const Shape& s) { return std::count(s.begin(), s.end(), batch); };
    auto rest = [](const Shape& s) { return s.resolve(1).numel(); };  // checked: an overflow is an Error
    if (batch_dims(from) != batch_dims(to) || batch_dims(from) > 1)
        throw std::invalid_argument(
            fmt::format("cannot reshape {} to {}: the batch dim must stay one dim of its own", from, to));
    if (rest(from) != rest(to))
        throw std::invalid_argument(fmt::format("cannot reshape {} ({} elements{}) to {} ({} elements{})", from,
                                                rest(from), from.has_batch() ? " per batch item" : "", to, rest(to),
                                                to.has_batch() ? " per batch item" : ""));
    return {to, in[0].dtype};
}

void Reshape::forward(const Inputs& x, Tensor& y) const { std::memcpy(y.raw(), x[0].raw(), y.nbytes()); }
void Reshape::reference(const Inputs& x, Tensor& y) const {
    const auto* a = static_cast<const std::byte*>(x[0].raw());
    auto* b = static_cast<std::byte*>(y.raw());
    for (std::size_t i = 0; i < y.nbytes(); ++i) b[i] = a[i];
}

// Same elements: dx = dy in x's shape (which may hold the batch dim).
Grads Reshape::gradient(const GradContext& c) const {
    return grads(c, [&] { return reshape(c.dy, c.x[0].shape()); });
}

// ---- broadcast_to

std::string BroadcastTo::attrs() const { return fmt::format("shape={}", shape); }
BroadcastTo BroadcastTo::from_attrs(const Attrs& a) {
    a.only({"shape"});
    return {a.shape("shape")};
}

TypedShape BroadcastTo::infer(std::span<const TypedShape> in, std::int64_t batch_size) const {
    expect_inputs(in, 1);
    const Shape to = shape.resolve(batch_size);
    const Shape b = broadcast_shapes(in[0].shape, to);
    if (!(b == to)) throw std::invalid_argument(fmt::format("{} does not broadcast to {}", in[0].shape, to));
    return {to, in[0].dtype};
}

void BroadcastTo::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        broadcast_binary<T, T>(x[0], x[0], y, [](T a, T) { return a; });
    });
}

void BroadcastTo::reference(const Inputs& x, Tensor& y) const {
    // Walk y's multi-index; x's offset ignores dims where x has 1.
    const Shape &out = y.shape(), &s = x[0].shape();
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        auto a = x[0].data<T>();
        auto b = y.data<T>();
        for (std::int64_t i = 0; i < y.numel(); ++i) {
            std::int64_t flat = i, off = 0, stride = 1;
            for (std::size_t k = 0; k < s.rank(); ++k) {
                const std::size_t d = out.rank() - 1 - k;
                const std::int64_t idx = flat % out[d];
                flat /= out[d];
                const std::int64_t n = s[s.rank() - 1 - k];
                off += (n == 1 ? 0 : idx) * stride;
                stride *= n;
            }
            b[i] = a[off];
        }
    });
}

// Each x element feeds several y elements: dx = their dys summed, which the autograd
// pass does for every broadcast; the rule passes dy on.
Grads BroadcastTo::gradient(const GradContext& c) const {
    return grads(c, [&] { return c.dy; });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr transpose(const Expr& x, SourceLocation loc) { return ops::make_listed(ops::Transpose{}, {x}, loc); }
Expr reshape(const Expr& x, Shape shape, SourceLocation loc) { return ops::make_listed(ops::Reshape{shape}, {x}, loc); }
Expr broadcast_to(const Expr& x, Shape shape, SourceLocation loc) {
    return ops::make_listed(ops::BroadcastTo{shape}, {x}, loc);
}

}  // namespace adjoint
