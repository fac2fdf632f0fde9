// M = rows of op(x), K = the inner dim, N = columns of op(w).
// y[i, j] = sum_k op(x)[i, k] * op(w)[k, j]; the kernels are in gemm.cpp.
#include <adjoint/ops/matmul.hpp>

#include <cmath>

#include "gemm.hpp"
#include "op_list.hpp"
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/reduce.hpp>

namespace adjoint::ops {

std::string MatMul::attrs() const {
    if (!transpose_a && !transpose_b) return {};
    return transpose_a && transpose_b ? "transpose_a transpose_b" : transpose_a ? "transpose_a" : "transpose_b";
}
MatMul MatMul::from_attrs(const Attrs& a) {
    a.only({"transpose_a", "transpose_b"});
    return {a.flag("transpose_a"), a.flag("transpose_b")};
}

TypedShape MatMul::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_floating(in[0], "x");
    expect_same_dtype(in[0], in[1]);
    const Shape &a = in[0].shape, &b = in[1].shape;
    if (a.rank() != 2 || b.rank() != 2)
        throw std::invalid_argument(fmt::format("{} x {}: both operands must be 2-D", a, b));
    const std::int64_t m = transpose_a ? a[1] : a[0], ka = transpose_a ? a[0] : a[1];
    const std::int64_t kb = transpose_b ? b[1] : b[0], n = transpose_b ? b[0] : b[1];
    auto dim = [](std::int64_t d) { return d == batch ? std::string("batch") : std::to_string(d); };
    if (ka != kb)
        throw std::invalid_argument(fmt::format("{}{} x {}{}: inner dimensions {} and {} differ", a,
                                                transpose_a ? "^T" : "", b, transpose_b ? "^T" : "", dim(ka), dim(kb)));
    return {Shape{m, n}, in[0].dtype};
}

std::size_t MatMul::workspace_bytes(std::span<const TypedShape> in) const {
    const Shape &a = in[0].shape, &b = in[1].shape;
    const std::int64_t M = transpose_a ? a[1] : a[0], K = transpose_a ? a[0] : a[1], N = transpose_b ? b[0] : b[1];
    return visit_floating(in[0].dtype, name,
                          [&](auto tag) { return gemm_workspace_bytes<decltype(tag)>(transpose_b, M, N, K); });
}

namespace {
template <class F> void with_dims(const MatMul& op, const Inputs& x, F f) {
    const Shape &a = x[0].shape(), &b = x[1].shape();
    const std::int64_t M = op.transpose_a ? a[1] : a[0], K = op.transpose_a ? a[0] : a[1];
    const std::int64_t N = op.transpose_b ? b[0] : b[1];
    f(M, N, K);
}
}  // namespace

void MatMul::forward(const Inputs& x, Tensor& y) const {
    with_dims(*this, x, [&](std::int64_t M, std::int64_t N, std::int64_t K) {
        visit_floating(y.dtype(), name, [&](auto tag) {
            using T = decltype(tag);
            gemm<T>(transpose_a, transpose_b, M, N, K, x[0].data<T>().data(), x[1].data<T>().data(), y.data<T>().data(),
                    x.workspace());
        });
    });
}

void MatMul::reference(const Inputs& x, Tensor& y) const {
    with_dims(*this, x, [&](std::int64_t M, std::int64_t N, std::int64_t K) {
        visit_floating(y.dtype(), name, [&](auto tag) {
            using T = decltype(tag);
            gemm_reference<T>(transpose_a, transpose_b, M, N, K, x[0].data<T>().data(), x[1].data<T>().data(),
                              y.data<T>().data());
        });
    });
}

// y = op(a) op(b), dy: (M, N). With no transposes: da = dy b^T, db = a^T dy. Transposed
// operands get the transposes of those, which are again products of a, b and dy with
// flags, so no transposed copy is ever made:
//   da = ta ? op(b) dy^T : dy op(b)^T        db = tb ? dy^T op(a) : op(a)^T dy
Grads MatMul::gradient(const GradContext& c) const {
    const Expr &a = c.x[0], &b = c.x[1], &dy = c.dy;
    return grads(
        c,
        [&] {
            return transpose_a ? matmul(b, dy, {.a = transpose_b, .b = true})
                               : matmul(dy, b, {.a = false, .b = !transpose_b});
        },
        [&] {
            return transpose_b ? matmul(dy, a, {.a = true, .b = transpose_a})
                               : matmul(a, dy, {.a = !transpose_a, .b = false});
        });
}

std::string MatMulBias::attrs() const {
    const std::string t = MatMul{transpose_a, transpose_b}.attrs();
    return relu ? (t.empty() ? std::string("relu") : fmt::format("{} relu", t)) : t;
}
MatMulBias MatMulBias::from_attrs(const Attrs& a) {
    a.only({"transpose_a", "transpose_b", "relu"});
    return {a.flag("transpose_a"), a.flag("transpose_b"), a.flag("relu")};
}

TypedShape MatMulBias::infer(std::span<const TypedShape> in, std::int64_t batch_size) const {
    expect_inputs(in, 3);
    const TypedShape y = MatMul{transpose_a, transpose_b}.infer(in.first(2), batch_size);
    expect_same_dtype(in[0], in[2]);
    if (in[2].shape.rank() != 1 || in[2].shape[0] != y.shape[1])
        throw std::invalid_argument(
            fmt::format("the bias is {}; it must be ({},), one value per column of the {} product", in[2].shape,
                        y.shape[1], y.shape));
    return y;
}

std::size_t MatMulBias::workspace_bytes(std::span<const TypedShape> in) const {
    return MatMul{transpose_a, transpose_b}.workspace_bytes(in.first(2));
}

void MatMulBias::forward(const Inputs& x, Tensor& y) const {
    const MatMul mm{transpose_a, transpose_b};
    with_dims(mm, x, [&](std::int64_t M, std::int64_t N, std::int64_t K) {
        visit_floating(y.dtype(), name, [&](auto tag) {
            using T = decltype(tag);
            gemm<T>(transpose_a, transpose_b, M, N, K, x[0].data<T>().data(), x[1].data<T>().data(), y.data<T>().data(),
                    x.workspace(), Epilogue<T>{x[2].data<T>().data(), relu});
        });
    });
}

// The triple loop, then the bias and the relu as separate passes.
void MatMulBias::reference(const Inputs& x, Tensor& y) const {
    MatMul{transpose_a, transpose_b}.reference(x, y);
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        T* out = y.data<T>().data();
        const T* bias = x[2].data<T>().data();
        const std::int64_t N = y.shape()[1];
        for (std::int64_t i = 0; i < y.numel(); ++i) {
            const T v = out[i] + bias[i % N];
            out[i] = relu && !(v > T(0)) && !std::isnan(v) ? T(0) : v;
        }
    });
}

Grads MatMulBias::gradient(const GradContext& c) const {
    const Expr dz = relu ? mask(c.dy, c.y) : c.dy;
    Grads g(3);
    if (c.wanted[0] || c.wanted[1]) {
        const Grads ab = MatMul{transpose_a, transpose_b}.gradient({c.x.first(2), c.y, dz, c.wanted.first(2)});
        g[0] = ab[0];
        g[1] = ab[1];
    }
    if (c.wanted[2]) g[2] = sum(dz, {0});
    return g;
}

}  // namespace adjoint::ops

namespace adjoint {

Expr matmul_bias(const Expr& x, const Expr& w, const Expr& bias, bool relu, Transposed t, SourceLocation loc) {
    return ops::make_listed(ops::MatMulBias{t.a, t.b, relu}, {x, w, bias}, loc);
}

std::string matmul_kernel_name() { return ops::gemm_kernel_name(); }

Expr matmul(const Expr& x, const Expr& w, SourceLocation loc) { return ops::make_listed(ops::MatMul{}, {x, w}, loc); }
Expr matmul(const Expr& x, const Expr& w, Transposed t, SourceLocation loc) {
    return ops::make_listed(ops::MatMul{t.a, t.b}, {x, w}, loc);
}

}  // namespace adjoint
