// R = rows (all dims but the last), C = classes (the last dim).
#include <adjoint/ops/softmax.hpp>

#include <cmath>

#include "../core/parallel.hpp"
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/cast.hpp>
#include "naive.hpp"
#include <adjoint/ops/reduce.hpp>
#include <adjoint/ops/shape_ops.hpp>

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

// Calls row(r) for every row, in parallel.
template <class F> void for_rows(std::int64_t R, std::int64_t C, F row) {
    parallel_chunks(R, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(C, 1)), [&](std::int64_t r0, std::int64_t r1) {
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

template <class T> void softmax_rows(const Tensor& logits, Tensor& y) {
    const std::int64_t C = logits.shape().back(), R = C ? logits.numel() / C : 0;
    const T* x = logits.data<T>().data();
    T* out = y.data<T>().data();
    for_rows(R, C, [&](std::int64_t r) { softmax_row(x + r * C, out + r * C, C); });
}

// dx = (softmax(x) S - l) dloss per row, S = sum(l), each row in one go.
template <class T> void dense_loss_grad(const Inputs& in, Tensor& y) {
    const std::int64_t C = y.shape().back(), R = C ? y.numel() / C : 0;
    const T* x = in[0].data<T>().data();
    const T* l = in[1].data<T>().data();
    const T* dy = in[2].data<T>().data();
    T* out = y.data<T>().data();
    for_rows(R, C, [&](std::int64_t r) {
        T* yr = out + r * C;
        const T* lr = l + r * C;
        softmax_row(x + r * C, yr, C);
        T S = 0;
        for (std::int64_t c = 0; c < C; ++c) S += lr[c];
        for (std::int64_t c = 0; c < C; ++c) yr[c] = (yr[c] * S - lr[c]) * dy[r];
    });
}

template <class T> void dense_loss(const Tensor& logits, const Tensor& labels, Tensor& y) {
    const std::int64_t C = logits.shape().back(), R = C ? logits.numel() / C : 0;
    const T* x = logits.data<T>().data();
    const T* p = labels.data<T>().data();
    T* out = y.data<T>().data();
    for_rows(R, C, [&](std::int64_t r) {
        const T lse = logsumexp(x + r * C, C);
        T loss = 0;
        for (std::int64_t c = 0; c < C; ++c) loss += p[r * C + c] * (lse - x[r * C + c]);
        out[r] = loss;
    });
}

// Every label in [0, C), checked before any output is written: the error names the
// first bad row.
template <class L> void check_labels(const L* lab, std::int64_t R, std::int64_t C) {
    for (std::int64_t r = 0; r < R; ++r)
        if (static_cast<std::int64_t>(lab[r]) < 0 || static_cast<std::int64_t>(lab[r]) >= C)
            throw Error(fmt::format("label {} in row {} is out of range [0, {})", static_cast<std::int64_t>(lab[r]), r, C));
}

template <class T, class L> void sparse_loss(const Tensor& logits, const Tensor& labels, Tensor& y) {
    const std::int64_t C = logits.shape().back(), R = C ? logits.numel() / C : 0;
    const T* x = logits.data<T>().data();
    const L* lab = labels.data<L>().data();
    T* out = y.data<T>().data();
    check_labels(lab, R, C);
    for_rows(R, C, [&](std::int64_t r) { out[r] = logsumexp(x + r * C, C) - x[r * C + lab[r]]; });
}

// ---- the naive references: every row in long double, straight from the formulas.

// Row r of a (..., C) tensor as long doubles, and its max and logsumexp.
struct NaiveRow {
    std::vector<long double> x;
    long double max = 0, lse = 0;
    NaiveRow(const Tensor& t, std::int64_t r, std::int64_t C) : x(static_cast<std::size_t>(C)) {
        for (std::int64_t c = 0; c < C; ++c) x[static_cast<std::size_t>(c)] = naive::get(t, r * C + c);
        max = *std::max_element(x.begin(), x.end(), [](long double a, long double b) { return a < b || std::isnan(b); });
        long double s = 0;
        for (long double v : x) s += std::exp(v - max);
        lse = max + std::log(s);
    }
    long double p(std::int64_t c) const { return std::exp(x[static_cast<std::size_t>(c)] - lse); }
};

std::int64_t rows(const Tensor& logits) {
    const std::int64_t C = logits.shape().back();
    return C ? logits.numel() / C : 0;
}

}  // namespace

// p_c = exp(x_c - logsumexp(x))
void Softmax::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows(x[0]); ++r) {
        const NaiveRow row(x[0], r, C);
        for (std::int64_t c = 0; c < C; ++c) naive::set(y, r * C + c, row.p(c));
    }
}

// loss = sum_c l_c (logsumexp(x) - x_c)
void SoftmaxCrossEntropy::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows(x[0]); ++r) {
        const NaiveRow row(x[0], r, C);
        long double loss = 0;
        for (std::int64_t c = 0; c < C; ++c) loss += naive::get(x[1], r * C + c) * (row.lse - row.x[static_cast<std::size_t>(c)]);
        naive::set(y, r, loss);
    }
}

// dx_c = (p_c sum(l) - l_c) dloss
void SoftmaxCrossEntropyGrad::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows(x[0]); ++r) {
        const NaiveRow row(x[0], r, C);
        long double S = 0;
        for (std::int64_t c = 0; c < C; ++c) S += naive::get(x[1], r * C + c);
        for (std::int64_t c = 0; c < C; ++c)
            naive::set(y, r * C + c, (row.p(c) * S - naive::get(x[1], r * C + c)) * naive::get(x[2], r));
    }
}

// loss = logsumexp(x) - x[label]
void SparseSoftmaxCrossEntropy::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows(x[0]); ++r) {
        const long double label = naive::get(x[1], r);
        if (label < 0 || label >= C)
            throw Error(fmt::format("label {} in row {} is out of range [0, {})", static_cast<std::int64_t>(label), r, C));
    }
    for (std::int64_t r = 0; r < rows(x[0]); ++r) {
        const NaiveRow row(x[0], r, C);
        naive::set(y, r, row.lse - row.x[static_cast<std::size_t>(naive::get(x[1], r))]);
    }
}

namespace {

void sparse(const Inputs& x, Tensor& y) {
    visit_floating(x[0].dtype(), "sparse_softmax_cross_entropy", [&](auto tag) {
        using T = decltype(tag);
        if (x[1].dtype() == DType::i32) sparse_loss<T, std::int32_t>(x[0], x[1], y);
        else sparse_loss<T, std::uint8_t>(x[0], x[1], y);
    });
}

}  // namespace

TypedShape Softmax::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    expect_logits(in[0]);
    return in[0];
}

void Softmax::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) { softmax_rows<decltype(tag)>(x[0], y); });
}

TypedShape SoftmaxCrossEntropyGrad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 3);
    expect_logits(in[0]);
    expect_same_dtype(in[0], in[1]);
    expect_same_dtype(in[0], in[2]);
    if (!(in[0].shape == in[1].shape))
        throw std::invalid_argument(fmt::format("logits {} and labels {} differ in shape", in[0].shape, in[1].shape));
    if (!(rows_of(in[0].shape) == in[2].shape))
        throw std::invalid_argument(fmt::format("logits {} need a loss gradient of shape {}, got {}", in[0].shape,
                                                rows_of(in[0].shape), in[2].shape));
    return in[0];
}

void SoftmaxCrossEntropyGrad::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) { dense_loss_grad<decltype(tag)>(x, y); });
}

TypedShape SoftmaxCrossEntropy::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_logits(in[0]);
    expect_same_dtype(in[0], in[1]);
    if (!(in[0].shape == in[1].shape))
        throw std::invalid_argument(fmt::format("logits {} and labels {} differ in shape", in[0].shape, in[1].shape));
    return {rows_of(in[0].shape), in[0].dtype};
}

void SoftmaxCrossEntropy::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) { dense_loss<decltype(tag)>(x[0], x[1], y); });
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

void SparseSoftmaxCrossEntropy::forward(const Inputs& x, Tensor& y) const { sparse(x, y); }

// ---- gradients. With p = softmax(logits) and dy of shape (...) seen as (..., 1):
//   loss = sum_c l_c (lse - x_c)  =>  d loss / d x_c = p_c sum(l) - l_c,  d loss / d l_c = lse - x_c
// so dx = (p sum(l) - l) dy, which is (p - l) dy for one-hot or any distribution, and
// dl = -log_softmax(x) dy. Neither forms log(exp(.)): both stay finite at logits of 1e4.

namespace {
Expr dy_per_row(const GradContext& c) {
    Shape s = c.dy.shape();
    s.push_back(1);
    return reshape(c.dy, s);
}
}  // namespace

// dx: one softmax_cross_entropy_grad node.
Grads SoftmaxCrossEntropy::gradient(const GradContext& c) const {
    return grads(
        c, [&] { return make(SoftmaxCrossEntropyGrad{}, {c.x[0], c.x[1], c.dy}, std::source_location::current()); },
        [&] { return -(log_softmax(c.x[0]) * dy_per_row(c)); });
}

// y = softmax(x), upstream u:  dx = y (u - sum(u y))
Grads Softmax::gradient(const GradContext& c) const {
    return grads(c, [&] { return c.y * (c.dy - sum(c.dy * c.y, {-1}, true)); });
}

// g_c = (p_c S - l_c) d with p = softmax(x), S = sum(l), d = dloss per row; upstream u:
//   dx = S d p (u - sum(u p)),  dl_k = d (sum(u p) - u_k),  dd = sum_c u_c (p_c S - l_c)
Grads SoftmaxCrossEntropyGrad::gradient(const GradContext& c) const {
    const Expr &x = c.x[0], &l = c.x[1], &u = c.dy;
    Shape rows = c.x[2].shape();
    rows.push_back(1);
    const Expr p = softmax(x), S = sum(l, {-1}, true), d = reshape(c.x[2], rows), up = sum(u * p, {-1}, true);
    return grads(
        c, [&] { return S * d * p * (u - up); }, [&] { return d * (up - u); },
        [&] { return sum(u * (p * S - l), {-1}); });
}

// dx = (p - onehot(label)) dy; labels are indices: no gradient.
Grads SparseSoftmaxCrossEntropy::gradient(const GradContext& c) const {
    const Expr dy = dy_per_row(c);
    return grads(
        c, [&] { return (softmax(c.x[0]) - one_hot(c.x[1], c.x[0].shape().back(), c.x[0].dtype())) * dy; },
        no_gradient);
}

// ---- one_hot: R = number of labels, D = depth.  y[r, d] = (label[r] == d)

std::string OneHot::attrs() const { return fmt::format("depth={} dtype={}", depth, dtype_name(dtype)); }

TypedShape OneHot::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    if (in[0].dtype != DType::i32 && in[0].dtype != DType::u8)
        throw std::invalid_argument(fmt::format("labels have dtype {}; they must be i32 or u8", dtype_name(in[0].dtype)));
    if (depth <= 0) throw std::invalid_argument(fmt::format("depth is {}; it must be positive", depth));
    Shape s = in[0].shape;
    s.push_back(depth);
    return {s, dtype};
}

namespace {
void one_hot_rows(const Tensor& labels, Tensor& y, std::int64_t depth) {
    visit_dtype(labels.dtype(), [&](auto ltag) {
        using L = decltype(ltag);
        if constexpr (std::is_integral_v<L>) {
            const L* lab = labels.data<L>().data();
            check_labels(lab, labels.numel(), depth);
            visit_dtype(y.dtype(), [&](auto ytag) {
                using T = decltype(ytag);
                T* out = y.data<T>().data();
                std::fill(out, out + y.numel(), T(0));
                for (std::int64_t r = 0; r < labels.numel(); ++r) out[r * depth + static_cast<std::int64_t>(lab[r])] = T(1);
            });
        }
    });
}
}  // namespace

void OneHot::forward(const Inputs& x, Tensor& y) const { one_hot_rows(x[0], y, depth); }
void OneHot::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const std::int64_t label = static_cast<std::int64_t>(x[0].as_double(i / depth));
        if (label < 0 || label >= depth)
            throw Error(fmt::format("label {} in row {} is out of range [0, {})", label, i / depth, depth));
        visit_dtype(y.dtype(), [&](auto tag) { y.data<decltype(tag)>()[i] = decltype(tag)(label == i % depth); });
    }
}

Grads OneHot::gradient(const GradContext& c) const { return grads(c, no_gradient); }

}  // namespace adjoint::ops

namespace adjoint {

Expr softmax(Expr x, int axis, std::source_location loc) {
    if (x.valid() && (axis == -1 || (x.shape().rank() > 0 && axis == static_cast<int>(x.shape().rank()) - 1)))
        return ops::make(ops::Softmax{}, {x}, loc);
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

Expr one_hot(Expr labels, std::int64_t depth, DType dtype, std::source_location loc) {
    return ops::make(ops::OneHot{depth, dtype}, {labels}, loc);
}

}  // namespace adjoint
