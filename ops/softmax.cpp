// R = rows (all dims but the last), C = classes (the last dim).
#include "softmax.hpp"

#include <cmath>

#include "../core/parallel.hpp"
#include "binary.hpp"
#include "cast.hpp"
#include "reduce.hpp"
#include "unary.hpp"

namespace adjoint::ops {

namespace {

Shape rows_of(const Shape& logits) {
    Shape s;
    for (std::size_t i = 0; i + 1 < logits.rank(); ++i) s.push_back(logits[i]);
    return s;
}

void expect_logits(const TypedShape& t) {
    expect_floating(t, "logits");
    if (t.shape.rank() == 0) throw std::invalid_argument("logits must have a class dim (rank >= 1)");
    if (t.shape.back() == 0) throw std::invalid_argument(fmt::format("logits {} have no classes", t.shape));
}

// max and log(sum(exp(x - max))) of one row of C logits: the row's logsumexp, stably.
template <class T> T logsumexp(const T* x, std::int64_t C) {
    T m = x[0];
    for (std::int64_t c = 1; c < C; ++c) m = x[c] > m ? x[c] : m;
    T s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
    return m + std::log(s);
}

// Calls row(r) for every row, in parallel or not.
template <class F> void for_rows(std::int64_t R, std::int64_t C, bool parallel, F row) {
    auto body = [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) row(r);
    };
    if (parallel) parallel_chunks(R, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(C, 1)), body);
    else body(0, R);
}

template <class T> void dense_loss(const Tensor& logits, const Tensor& labels, Tensor& y, bool parallel) {
    const std::int64_t C = logits.shape().back(), R = C ? logits.numel() / C : 0;
    const T* x = logits.data<T>().data();
    const T* p = labels.data<T>().data();
    T* out = y.data<T>().data();
    for_rows(R, C, parallel, [&](std::int64_t r) {
        const T lse = logsumexp(x + r * C, C);
        T loss = 0;
        for (std::int64_t c = 0; c < C; ++c) loss += p[r * C + c] * (lse - x[r * C + c]);
        out[r] = loss;
    });
}

template <class T, class L> void sparse_loss(const Tensor& logits, const Tensor& labels, Tensor& y, bool parallel) {
    const std::int64_t C = logits.shape().back(), R = C ? logits.numel() / C : 0;
    const T* x = logits.data<T>().data();
    const L* lab = labels.data<L>().data();
    T* out = y.data<T>().data();
    // Check every label first, so a bad one reports the first bad row.
    for (std::int64_t r = 0; r < R; ++r)
        if (static_cast<std::int64_t>(lab[r]) < 0 || static_cast<std::int64_t>(lab[r]) >= C)
            throw Error(fmt::format("label {} in row {} is out of range [0, {})", static_cast<std::int64_t>(lab[r]), r, C));
    for_rows(R, C, parallel, [&](std::int64_t r) { out[r] = logsumexp(x + r * C, C) - x[r * C + lab[r]]; });
}

void sparse(const Inputs& x, Tensor& y, bool parallel) {
    visit_floating(x[0].dtype(), "sparse_softmax_cross_entropy", [&](auto tag) {
        using T = decltype(tag);
        if (x[1].dtype() == DType::i32) sparse_loss<T, std::int32_t>(x[0], x[1], y, parallel);
        else sparse_loss<T, std::uint8_t>(x[0], x[1], y, parallel);
    });
}

}  // namespace

TypedShape SoftmaxCrossEntropy::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_logits(in[0]);
    expect_same_dtype(in[0], in[1]);
    if (!(in[0].shape == in[1].shape))
        throw std::invalid_argument(fmt::format("logits {} and labels {} differ in shape", in[0].shape, in[1].shape));
    return {rows_of(in[0].shape), in[0].dtype};
}

void SoftmaxCrossEntropy::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) { dense_loss<decltype(tag)>(x[0], x[1], y, true); });
}
void SoftmaxCrossEntropy::reference(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) { dense_loss<decltype(tag)>(x[0], x[1], y, false); });
}

TypedShape SparseSoftmaxCrossEntropy::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_logits(in[0]);
    if (in[1].dtype != DType::i32 && in[1].dtype != DType::u8)
        throw std::invalid_argument(fmt::format("labels have dtype {}; they must be i32 or u8 class indices", dtype_name(in[1].dtype)));
    const Shape rows = rows_of(in[0].shape);
    if (!(rows == in[1].shape))
        throw std::invalid_argument(fmt::format("logits {} need labels of shape {}, got {}", in[0].shape, rows, in[1].shape));
    return {rows, in[0].dtype};
}

void SparseSoftmaxCrossEntropy::forward(const Inputs& x, Tensor& y) const { sparse(x, y, true); }
void SparseSoftmaxCrossEntropy::reference(const Inputs& x, Tensor& y) const { sparse(x, y, false); }

}  // namespace adjoint::ops

namespace adjoint {

Expr softmax(Expr x, int axis, std::source_location loc) {
    const Expr shift = stop_gradient(max(x, {axis}, true, loc), loc);
    const Expr e = exp(ops::make(ops::Sub{}, {x, shift}, loc), loc);
    return ops::make(ops::Div{}, {e, sum(e, {axis}, true, loc)}, loc);
}

Expr log_softmax(Expr x, int axis, std::source_location loc) {
    const Expr z = ops::make(ops::Sub{}, {x, stop_gradient(max(x, {axis}, true, loc), loc)}, loc);
    return ops::make(ops::Sub{}, {z, log(sum(exp(z, loc), {axis}, true, loc), loc)}, loc);
}

Expr softmax_cross_entropy(Expr logits, Expr onehot, std::source_location loc) {
    return ops::make(ops::SoftmaxCrossEntropy{}, {logits, onehot}, loc);
}

Expr sparse_softmax_cross_entropy(Expr logits, Expr labels, std::source_location loc) {
    return ops::make(ops::SparseSoftmaxCrossEntropy{}, {logits, labels}, loc);
}

}  // namespace adjoint
