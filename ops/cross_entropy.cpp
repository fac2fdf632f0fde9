// The fused, numerically stable softmax cross-entropies (per-row losses) and one_hot.
// R = rows (all dims but the last), C = classes (the last dim).
#include <adjoint/ops/cross_entropy.hpp>

#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/reduce.hpp>
#include <adjoint/ops/shape_ops.hpp>
#include <adjoint/ops/softmax.hpp>

#include "op_list.hpp"
#include "softmax_rows.hpp"

namespace adjoint::ops {

namespace {

void expect_same_shape(const TypedShape& logits, const TypedShape& labels) {
    if (!(logits.shape == labels.shape))
        throw std::invalid_argument(fmt::format("logits {} and labels {} differ in shape", logits.shape, labels.shape));
}

// dy of shape (...) as (..., 1), to broadcast over the classes.
Expr per_row(const Expr& dy) {
    Shape s = dy.shape();
    s.push_back(1);
    return reshape(dy, s);
}

}  // namespace

// ---- softmax_cross_entropy: loss = sum_c l_c (logsumexp(x) - x_c), each term formed as
// (max - x_c) + log(sum(exp(x - max))), exact at any magnitude

TypedShape SoftmaxCrossEntropy::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    rows::expect_logits(in[0]);
    expect_same_dtype(in[0], in[1]);
    expect_same_shape(in[0], in[1]);
    return {rows::of(in[0].shape), in[0].dtype};
}

void SoftmaxCrossEntropy::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t C = x[0].shape().back();
        const T* logits = x[0].data<T>().data();
        const T* labels = x[1].data<T>().data();
        T* out = y.data<T>().data();
        rows::for_rows(rows::count(x[0]), C, [&](std::int64_t r) {
            const auto lse = rows::logsumexp(logits + r * C, C);
            T loss = 0;
            for (std::int64_t c = 0; c < C; ++c)  // a class of label 0 adds nothing, even at an infinite -log p
                if (const T l = labels[r * C + c]; l != T(0)) loss += l * ((lse.max - logits[r * C + c]) + lse.log_sum);
            out[r] = loss;
        });
    });
}

void SoftmaxCrossEntropy::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows::count(x[0]); ++r) {
        const rows::NaiveRow row(x[0], r, C);
        long double loss = 0;
        for (std::int64_t c = 0; c < C; ++c)
            if (const long double l = naive::get(x[1], r * C + c); l != 0) loss += l * row.minus_log_p(c);
        naive::set(y, r, loss);
    }
}

// With p = softmax(logits) and dy of shape (...) seen as (..., 1):
//   d loss / d x_c = p_c sum(l) - l_c,   d loss / d l_c = lse - x_c
// so dx = (p sum(l) - l) dy (which is (p - l) dy for one-hot or any distribution), one
// softmax_cross_entropy_grad node, and dl = -log_softmax(x) dy. Neither forms log(exp(.)):
// both stay finite at logits of 1e4.
Grads SoftmaxCrossEntropy::gradient(const GradContext& c) const {
    return grads(
        c,
        [&] {
            return make_listed(SoftmaxCrossEntropyGrad{}, {c.x[0], c.x[1], c.dy}, SourceLocation::current());
        },
        [&] { return -(log_softmax(c.x[0]) * per_row(c.dy)); });
}

// ---- softmax_cross_entropy_grad: dx_c = (p_c S - l_c) dloss, S = sum(l), one pass per row

TypedShape SoftmaxCrossEntropyGrad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 3);
    rows::expect_logits(in[0]);
    expect_same_dtype(in[0], in[1]);
    expect_same_dtype(in[0], in[2]);
    expect_same_shape(in[0], in[1]);
    if (!(rows::of(in[0].shape) == in[2].shape))
        throw std::invalid_argument(fmt::format("logits {} need a loss gradient of shape {}, got {}", in[0].shape,
                                                rows::of(in[0].shape), in[2].shape));
    return in[0];
}

void SoftmaxCrossEntropyGrad::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t C = x[0].shape().back();
        const T* logits = x[0].data<T>().data();
        const T* labels = x[1].data<T>().data();
        const T* dloss = x[2].data<T>().data();
        T* out = y.data<T>().data();
        rows::for_rows(rows::count(x[0]), C, [&](std::int64_t r) {
            T* yr = out + r * C;
            const T* lr = labels + r * C;
            rows::softmax_row(logits + r * C, yr, C);
            T S = 0;
            for (std::int64_t c = 0; c < C; ++c) S += lr[c];
            for (std::int64_t c = 0; c < C; ++c) yr[c] = (yr[c] * S - lr[c]) * dloss[r];
        });
    });
}

void SoftmaxCrossEntropyGrad::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows::count(x[0]); ++r) {
        const rows::NaiveRow row(x[0], r, C);
        long double S = 0;
        for (std::int64_t c = 0; c < C; ++c) S += naive::get(x[1], r * C + c);
        for (std::int64_t c = 0; c < C; ++c)
            naive::set(y, r * C + c, (row.p(c) * S - naive::get(x[1], r * C + c)) * naive::get(x[2], r));
    }
}

// g_c = (p_c S - l_c) d with p = softmax(x), S = sum(l), d = dloss per row; upstream u:
//   dx = S d p (u - sum(u p)),  dl_k = d (sum(u p) - u_k),  dd = sum_c u_c (p_c S - l_c)
Grads SoftmaxCrossEntropyGrad::gradient(const GradContext& c) const {
    const Expr &x = c.x[0], &l = c.x[1], &u = c.dy;
    const Expr p = softmax(x), S = sum(l, {-1}, true), d = per_row(c.x[2]), up = sum(u * p, {-1}, true);
    return grads(
        c, [&] { return S * d * p * (u - up); }, [&] { return d * (up - u); },
        [&] { return sum(u * (p * S - l), {-1}); });
}

// ---- sparse_softmax_cross_entropy: loss = logsumexp(x) - x[label]

TypedShape SparseSoftmaxCrossEntropy::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    rows::expect_logits(in[0]);
    if (in[1].dtype != DType::i32 && in[1].dtype != DType::u8)
        throw std::invalid_argument(
            fmt::format("labels have dtype {}; they must be i32 or u8 class indices", dtype_name(in[1].dtype)));
    const Shape r = rows::of(in[0].shape);
    if (!(r == in[1].shape))
        throw std::invalid_argument(
            fmt::format("logits {} need labels of shape {}, got {}", in[0].shape, r, in[1].shape));
    return {r, in[0].dtype};
}

void SparseSoftmaxCrossEntropy::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        auto loss = [&](auto label_tag) {
            using L = decltype(label_tag);
            const std::int64_t C = x[0].shape().back(), R = rows::count(x[0]);
            const T* logits = x[0].data<T>().data();
            const L* labels = x[1].data<L>().data();
            T* out = y.data<T>().data();
            rows::check_labels(labels, R, C);
            rows::for_rows(R, C, [&](std::int64_t r) {
                const auto lse = rows::logsumexp(logits + r * C, C);
                out[r] = (lse.max - logits[r * C + labels[r]]) + lse.log_sum;
            });
        };
        if (x[1].dtype() == DType::i32) loss(std::int32_t{});
        else loss(std::uint8_t{});
    });
}

void SparseSoftmaxCrossEntropy::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows::count(x[0]); ++r) {
        const long double label = naive::get(x[1], r);
        if (label < 0 || label >= C)
            throw Error(
                fmt::format("label {} in row {} is out of range [0, {})", static_cast<std::int64_t>(label), r, C));
    }
    for (std::int64_t r = 0; r < rows::count(x[0]); ++r) {
        const rows::NaiveRow row(x[0], r, C);
        naive::set(y, r, row.minus_log_p(static_cast<std::int64_t>(naive::get(x[1], r))));
    }
}

// dx = (p - onehot(label)) dy; labels are indices: no gradient.
Grads SparseSoftmaxCrossEntropy::gradient(const GradContext& c) const {
    return grads(
        c, [&] { return (softmax(c.x[0]) - one_hot(c.x[1], c.x[0].shape().back(), c.x[0].dtype())) * per_row(c.dy); },
        no_gradient);
}

// ---- one_hot: R = number of labels, D = depth.  y[r, d] = (label[r] == d)

std::string OneHot::attrs() const { return fmt::format("depth={} dtype={}", depth, dtype_name(dtype)); }
OneHot OneHot::from_attrs(const Attrs& a) {
    a.only({"depth", "dtype"});
    return {a.integer("depth"), a.dtype("dtype")};
}

TypedShape OneHot::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    if (in[0].dtype != DType::i32 && in[0].dtype != DType::u8)
        throw std::invalid_argument(
            fmt::format("labels have dtype {}; they must be i32 or u8", dtype_name(in[0].dtype)));
    if (depth <= 0) throw std::invalid_argument(fmt::format("depth is {}; it must be positive", depth));
    Shape s = in[0].shape;
    s.push_back(depth);
    return {s, dtype};
}

void OneHot::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto label_tag) {
        using L = decltype(label_tag);
        if constexpr (std::is_integral_v<L>) {
            const L* labels = x[0].data<L>().data();
            rows::check_labels(labels, x[0].numel(), depth);
            visit_dtype(y.dtype(), [&](auto tag) {
                using T = decltype(tag);
                T* out = y.data<T>().data();
                std::fill(out, out + y.numel(), T(0));
                for (std::int64_t r = 0; r < x[0].numel(); ++r)
                    out[r * depth + static_cast<std::int64_t>(labels[r])] = T(1);
            });
        }
    });
}

void OneHot::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const std::int64_t label = static_cast<std::int64_t>(x[0].as_double(i / depth));
        if (label < 0 || label >= depth)
            throw Error(fmt::format("label {} in row {} is out of range [0, {})", label, i / depth, depth));
        naive::set(y, i, label == i % depth ? 1 : 0);
    }
}

// Labels are indices: piecewise constant, no gradient.
Grads OneHot::gradient(const GradContext& c) const { return grads(c, no_gradient); }

}  // namespace adjoint::ops

namespace adjoint {

Expr softmax_cross_entropy(const Expr& logits, const Expr& onehot, SourceLocation loc) {
    return ops::make_listed(ops::SoftmaxCrossEntropy{}, {logits, onehot}, loc);
}

Expr sparse_softmax_cross_entropy(const Expr& logits, const Expr& labels, SourceLocation loc) {
    return ops::make_listed(ops::SparseSoftmaxCrossEntropy{}, {logits, labels}, loc);
}

Expr one_hot(const Expr& labels, std::int64_t depth, DType dtype, SourceLocation loc) {
    return ops::make_listed(ops::OneHot{depth, dtype}, {labels}, loc);
}

Expr sigmoid_cross_entropy(const Expr& logits, const Expr& labels, SourceLocation loc) {
    return sub(softplus(logits, loc), mul(logits, labels, loc), loc);
}

}  // namespace adjoint
