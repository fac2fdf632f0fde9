// conv2d_max_pool and its weights' gradient: a convolution with bias (and relu) followed by
// max pooling, as one node each way (the shapes and rules: include/adjoint/ops/conv.hpp).
// x (N, H, W, C), w (KH, KW, C, F), y the convolution's output (N, OH, OW, F), never
// stored; p (N, PH, PW, F) with PH = OH / ph, PW = OW / pw (valid pooling: the last rows
// and columns of y that fill no window are not computed).
//
// Why it is fast: the first layer of an image network has K = KH KW C taps per output
// (9 for 3x3 over one channel). As a GEMM that K is too short to pay for the patch matrix,
// and the separate ops each pass over y (N, OH, OW, F), 32 times the image: the
// convolution writes it, max_pool2d reads it, and backward max_pool2d_grad writes its
// gradient, mask and sum read and write it again and conv2d_backprop_filter reads it with
// the patches. Here each pooled value computes its window's ph pw convolution values from
// the image (in L1) into registers, filters inner (unit stride, 16 lanes of AVX-512 at F =
// 32), and keeps their max; the gradient recomputes them, routes dp to each filter's max
// and adds x's taps times it into a partial dw held in L1. Memory traffic is the image and
// p once each way. On AVX-512, passes of 16, 32 or 64 filters whose taps all fall inside
// the image run row kernels that keep their sums in registers (conv_rows.hpp); the loops
// here are their portable twins, with the same bits.
//
// Why it is deterministic: a pooled value is computed by one task; the gradient sums
// images in fixed groups (their number depends on N alone), each group in order into its
// own partial, and the partials in group order.
#include <adjoint/ops/conv.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/parallel.hpp"
#include "conv_rows.hpp"
#include "naive.hpp"
#include "op_list.hpp"
#include "scratch.hpp"
#include "window.hpp"
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/movement.hpp>
#include <adjoint/ops/reduce.hpp>
#include <adjoint/ops/shape_ops.hpp>

namespace adjoint::ops {

namespace {

constexpr std::int64_t max_groups = 64;  // image groups of the gradient's sums
// A task's convolution values: elements on its stack (32 KB of f32). A pool window of up to
// `max_window` positions fits with 16 filters at least.
constexpr std::int64_t buffer_size = 8192;
constexpr std::int64_t max_filters = 256;  // filters per pass
constexpr std::int64_t max_window = Conv2DMaxPool::max_pool_positions;
static_assert(max_window * 16 * 2 <= buffer_size);

std::string attrs_of(const Window2D& window, std::array<std::int64_t, 2> pool, bool relu) {
    std::string s = fmt::format("pool=[{}, {}]", pool[0], pool[1]);
    if (const std::string w = window.attrs(false); !w.empty()) s += " " + w;
    return relu ? s + " relu" : s;
}

std::array<std::int64_t, 2> pool_of(const Attrs& a) {
    const std::vector<int> p = a.axes("pool");
    if (p.size() != 2 || p[0] < 1 || p[1] < 1)
        throw std::invalid_argument(fmt::format("pool must be two positive sizes, not [{}]", fmt::join(p, ", ")));
    return {p[0], p[1]};
}

// The checks of both ops on (x, w, bias): the convolution's output shape (N, OH, OW, F),
// which the pool must fit.
Shape conv_output(const Window2D& window, std::array<std::int64_t, 2> pool, std::span<const TypedShape> in) {
    expect_image(in[0], "the image");
    const TypedShape& w = in[1];
    if (w.shape.rank() != 4 || w.shape.has_batch())
        throw std::invalid_argument(
            fmt::format("the filter is {}; filters are (height, width, in channels, out channels)", w.shape));
    expect_same_dtype(in[0], w);
    expect_same_dtype(in[0], in[2]);
    const Shape& x = in[0].shape;
    if (w.shape[2] != x[3])
        throw std::invalid_argument(
            fmt::format("the filter {} takes {} channels, the image {} has {}", w.shape, w.shape[2], x, x[3]));
    if (in[2].shape != Shape{w.shape[3]})
        throw std::invalid_argument(
            fmt::format("the bias is {}; it must be ({},), one value per filter", in[2].shape, w.shape[3]));
    const Window2D cw = with_filter(window, w.shape);
    cw.check();
    if (pool[0] < 1 || pool[1] < 1 || pool[0] > max_window || pool[1] > max_window || pool[0] * pool[1] > max_window)
        throw std::invalid_argument(fmt::format("the pool [{}, {}] must be positive and span at most {} positions",
                                                pool[0], pool[1], max_window));
    const Shape y{x[0], cw.out(0, x[1]), cw.out(1, x[2]), w.shape[3]};
    if (y[1] < pool[0] || y[2] < pool[1])
        throw std::invalid_argument(
            fmt::format("the pool [{}, {}] is larger than the convolution's output {}", pool[0], pool[1], y));
    return y;
}

// The convolution's output shape for a kernel's inputs (x, w, bias, ...).
Shape conv_shape(const Window2D& window, std::array<std::int64_t, 2> pool, const Inputs& x) {
    const std::vector<TypedShape> in{
        {x[0].shape(), x[0].dtype()}, {x[1].shape(), x[1].dtype()}, {x[2].shape(), x[2].dtype()}};
    return conv_output(window, pool, in);
}

struct Pooled {
    Geometry g;  // the convolution's
    std::int64_t PH = 0, PW = 0, F = 0;
};

Pooled pooled_of(const Window2D& window, std::array<std::int64_t, 2> pool, const Shape& x, const Shape& w) {
    Pooled p;
    p.g = Geometry::of(with_filter(window, w), x);
    p.PH = p.g.OH / pool[0];
    p.PW = p.g.OW / pool[1];
    p.F = w[3];
    return p;
}

// One pass of a task: pooled outputs [px0, px0 + columns) of row py, filters [f0, f0 + nf).
// Its convolution values (relu applied) are in a buffer of ph rows of columns pw
// positions: value (qy, j, f) at ((qy columns pw + j) nf + f), j = 0 for output column
// px0 pw. Loops over filters are innermost and unit-stride: they vectorize.
struct Pass {
    std::int64_t py, px0, columns, f0, nf;
};

// The filters per pass and the pooled columns per pass, so that a pass fits the buffer.
std::pair<std::int64_t, std::int64_t> pass_sizes(const Pooled& p, std::array<std::int64_t, 2> pool) {
    const std::int64_t window = pool[0] * pool[1];
    const std::int64_t filters = std::min({p.F, max_filters, buffer_size / window / 16 * 16});
    return {filters, std::max<std::int64_t>(1, buffer_size / (window * filters))};
}

// Calls f.template operator()<NF>() with NF = nf for the common filter counts (the loops
// over filters then unroll into whole vectors, with no remainder) and NF = 0 (nf read at
// run time) for the others.
template <class F> void with_filters(std::int64_t nf, F&& f) {
    switch (nf) {
        case 16: return f.template operator()<16>();
        case 32: return f.template operator()<32>();
        case 64: return f.template operator()<64>();
        default: return f.template operator()<0>();
    }
}

// For j < count: acc[j acc_step + f] += x[j x_step] w[f], f < nf (NF, or n if NF is 0).
// (Restrict: acc is no part of x or w, so w stays in registers across the js.)
template <std::int64_t NF, class T>
[[gnu::always_inline]] inline void add_outer(T* __restrict acc, std::int64_t acc_step, const T* __restrict x,
                                             std::int64_t x_step, const T* __restrict w, std::int64_t count,
                                             std::int64_t n) {
    const std::int64_t nf = NF ? NF : n;
    for (std::int64_t j = 0; j < count; ++j) {
        const T v = x[j * x_step];
        T* a = acc + j * acc_step;
        for (std::int64_t f = 0; f < nf; ++f) a[f] += v * w[f];
    }
}

// For j < count: out[f] += x[j x_step] dz[j dz_step + f], f < nf, in order of j.
template <std::int64_t NF, class T>
[[gnu::always_inline]] inline void add_inner(T* __restrict out, const T* __restrict x, std::int64_t x_step,
                                             const T* __restrict dz, std::int64_t dz_step, std::int64_t count,
                                             std::int64_t n) {
    const std::int64_t nf = NF ? NF : n;
    for (std::int64_t j = 0; j < count; ++j) {
        const T v = x[j * x_step];
        const T* d = dz + j * dz_step;
        for (std::int64_t f = 0; f < nf; ++f) out[f] += v * d[f];
    }
}

// Calls f(qy, iy, j0, j1, ix0, tap) for every tap (ky, kx) and pass row qy whose input row
// iy is inside the image: the pass's positions j in [j0, j1) read the image at column
// ix0 + j sw (the others fall on padding).
template <class F>
[[gnu::always_inline]] inline void each_tap_row(const Geometry& g, std::array<std::int64_t, 2> pool, const Pass& s,
                                                F&& f) {
    const std::int64_t cols = s.columns * pool[1];
    for (std::int64_t ky = 0; ky < g.KH; ++ky)
        for (std::int64_t kx = 0; kx < g.KW; ++kx)
            for (std::int64_t qy = 0; qy < pool[0]; ++qy) {
                const std::int64_t iy = g.iy(s.py * pool[0] + qy, ky);
                if (iy < 0 || iy >= g.H) continue;
                const std::int64_t ix0 = g.ix(s.px0 * pool[1], kx);
                const auto [j0, j1] = Geometry::inside(ix0, g.sw, cols, g.W);
                if (j0 < j1) f(qy, iy, j0, j1, ix0, ky * g.KW + kx);
            }
}

// The row kernels (conv_rows.hpp) take f32 passes of 16, 32 or 64 filters on AVX-512
// whose taps all fall inside the image, for filters of up to max_row_taps taps. Their
// taps: (ky, kx, c) reads the image (ky dh W + kx dw) C + c after the window's corner.
constexpr std::int64_t max_row_taps = 64;
struct RowTaps {
    std::array<std::int64_t, max_row_taps> off{};
    std::int64_t count = 0;  // 0: too many taps for the row kernels
};

RowTaps row_taps(const Geometry& g) {
    RowTaps t;
    if (g.KH * g.KW * g.C > max_row_taps) return t;
    for (std::int64_t ky = 0; ky < g.KH; ++ky)
        for (std::int64_t kx = 0; kx < g.KW; ++kx)
            for (std::int64_t c = 0; c < g.C; ++c)
                t.off[static_cast<std::size_t>(t.count++)] = (ky * g.dh * g.W + kx * g.dw) * g.C + c;
    return t;
}

// Whether pass s runs on the row kernels.
template <class T>
bool on_rows(const Geometry& g, const RowTaps& taps, std::array<std::int64_t, 2> pool, const Pass& s) {
    if (!std::is_same_v<T, float> || taps.count == 0 || !conv_rows_apply(s.nf)) return false;
    const std::int64_t oy0 = s.py * pool[0], oy1 = oy0 + pool[0] - 1;
    const std::int64_t ox0 = s.px0 * pool[1], ox1 = ox0 + s.columns * pool[1] - 1;
    return g.iy(oy0, 0) >= 0 && g.iy(oy1, g.KH - 1) < g.H && g.ix(ox0, 0) >= 0 && g.ix(ox1, g.KW - 1) < g.W;
}

// The pass's positions in pool row qy, for the row kernels.
TapRow tap_row(const Geometry& g, std::array<std::int64_t, 2> pool, const Pass& s, std::int64_t qy, const float* image,
               const RowTaps& taps) {
    const std::int64_t oy = s.py * pool[0] + qy, ox = s.px0 * pool[1];
    return {image + (g.iy(oy, 0) * g.W + g.ix(ox, 0)) * g.C, g.sw * g.C, taps.off.data(), taps.count,
            s.columns * pool[1]};
}

// Fills buf with relu?(bias + the convolution) for the pass's window positions. Each
// position sums its taps in row-major window order, channels inner, as the GEMM's K runs;
// the loops run tap by tap over a row of positions, whose input values are a strided row
// of the image and whose filter row stays in registers (the sums in buf, in L1); the row
// kernels, where they apply, keep the sums in registers instead.
template <std::int64_t NF, class T>
[[gnu::always_inline]] inline void conv_values(const Pooled& p, std::array<std::int64_t, 2> pool, const T* image,
                                               const T* w, const T* bias, bool relu, const Pass& s, const RowTaps& taps,
                                               T* buf) {
    const Geometry& g = p.g;
    const std::int64_t cols = s.columns * pool[1], nf = NF ? NF : s.nf;
    if constexpr (std::is_same_v<T, float>)
        if (on_rows<T>(g, taps, pool, s)) {
            for (std::int64_t qy = 0; qy < pool[0]; ++qy)
                conv_row(tap_row(g, pool, s, qy, image, taps), w + s.f0, p.F, bias + s.f0, relu, nf,
                         buf + qy * cols * nf);
            return;
        }
    std::fill(buf, buf + pool[0] * cols * nf, T(0));
    each_tap_row(
        g, pool, s,
        [&](std::int64_t qy, std::int64_t iy, std::int64_t j0, std::int64_t j1, std::int64_t ix0, std::int64_t tap) {
            const T* row = image + (iy * g.W + ix0 + j0 * g.sw) * g.C;
            T* acc = buf + (qy * cols + j0) * nf;
            for (std::int64_t c = 0; c < g.C; ++c)
                add_outer<NF>(acc, nf, row + c, g.sw * g.C, w + (tap * g.C + c) * p.F + s.f0, j1 - j0, nf);
        });
    const T* b = bias + s.f0;
    for (std::int64_t i = 0; i < pool[0] * cols; ++i) {
        T* acc = buf + i * nf;
        for (std::int64_t f = 0; f < nf; ++f) {
            const T v = acc[f] + b[f];
            acc[f] = relu && v < T(0) ? T(0) : v;
        }
    }
}

// For pooled column k of the pass: best[f] = the max of its window's values and at[f] the
// position's index in the window (row-major), by max_pool2d's rule (takes_over: the first
// largest, or the first NaN).
template <class T>
[[gnu::always_inline]] inline void window_max(std::array<std::int64_t, 2> pool, const Pass& s, const T* buf,
                                              std::int64_t k, T* best, std::int32_t* at) {
    const std::int64_t cols = s.columns * pool[1], nf = s.nf;
    for (std::int64_t qy = 0; qy < pool[0]; ++qy)
        for (std::int64_t qx = 0; qx < pool[1]; ++qx) {
            const T* v = buf + (qy * cols + k * pool[1] + qx) * nf;
            const auto q = static_cast<std::int32_t>(qy * pool[1] + qx);
            if (q == 0) {
                for (std::int64_t f = 0; f < nf; ++f) {
                    best[f] = v[f];
                    at[f] = 0;
                }
                continue;
            }
            for (std::int64_t f = 0; f < nf; ++f) {
                const bool take = takes_over(v[f], best[f]);
                best[f] = take ? v[f] : best[f];
                at[f] = take ? q : at[f];
            }
        }
}

// Calls f(pass) for every pass of pooled row py.
// The row's pooled columns are cut where their windows start and stop falling inside the
// image ([lo, hi): every tap of theirs inside its columns), so that a padded border does
// not keep the row's inner columns off the row kernels; each part in passes of `columns`.
template <class F> void each_pass(const Pooled& p, std::array<std::int64_t, 2> pool, std::int64_t py, F&& f) {
    const auto [filters, columns] = pass_sizes(p, pool);
    const Geometry& g = p.g;
    // Pooled column px spans output columns px pw .. px pw + pw - 1: inside where
    // ix(px pw, 0) >= 0 and ix(px pw + pw - 1, KW - 1) <= W - 1.
    const std::int64_t step = pool[1] * g.sw, room = g.W - 1 + g.pl - (g.KW - 1) * g.dw - (pool[1] - 1) * g.sw;
    const std::int64_t lo = std::min(p.PW, (g.pl + step - 1) / step);
    const std::int64_t hi = std::max(lo, room < 0 ? 0 : std::min(p.PW, room / step + 1));
    const std::array<std::int64_t, 4> cuts{0, lo, hi, p.PW};
    for (std::int64_t f0 = 0; f0 < p.F; f0 += filters)
        for (std::size_t part = 0; part < 3; ++part)
            for (std::int64_t px0 = cuts[part]; px0 < cuts[part + 1]; px0 += columns)
                f(Pass{py, px0, std::min(columns, cuts[part + 1] - px0), f0, std::min(filters, p.F - f0)});
}

// The image groups of the gradient's sums, (count, images per group): up to 64 groups,
// fewer where their partials, of part_bytes each, would pass 4 MiB. They depend on the
// shapes alone. N = 0 gives no group.
std::pair<std::int64_t, std::int64_t> groups_of(std::int64_t N, std::size_t part_bytes) {
    const auto budget = static_cast<std::int64_t>((std::size_t{4} << 20) / std::max<std::size_t>(part_bytes, 1));
    const std::int64_t most = std::clamp<std::int64_t>(budget, 1, max_groups);
    const std::int64_t size = std::max<std::int64_t>(1, (N + most - 1) / most);
    return {(N + size - 1) / size, size};
}

// The naive convolution's output in long double, relu applied: y[((n OH + oy) OW + ox) F + f].
std::vector<long double> naive_conv_relu(const Window2D& window, const Tensor& x, const Tensor& w, const Tensor& b,
                                         bool relu, const Shape& y) {
    std::vector<long double> out(static_cast<std::size_t>(y.numel()));
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const naive::Index o = naive::unravel(i, y);
        const long double v = naive_conv_at(window, x, w, o) + naive::get(b, o[3]);
        out[static_cast<std::size_t>(i)] = relu && v < 0 ? 0 : v;
    }
    return out;
}

// The naive window max of pooled output o (n, py, px, f): y's flat index of the first
// largest value (or first NaN).
std::int64_t naive_window_max(const std::vector<long double>& y, const Shape& ys, std::array<std::int64_t, 2> pool,
                              const naive::Index& o) {
    std::int64_t best = -1;
    for (std::int64_t qy = 0; qy < pool[0]; ++qy)
        for (std::int64_t qx = 0; qx < pool[1]; ++qx) {
            const std::int64_t i = naive::ravel({o[0], o[1] * pool[0] + qy, o[2] * pool[1] + qx, o[3]}, ys);
            const long double v = y[static_cast<std::size_t>(i)], b = best < 0 ? 0 : y[static_cast<std::size_t>(best)];
            if (best < 0 || v > b || (std::isnan(v) && !std::isnan(b))) best = i;
        }
    return best;
}

Conv2DOptions options_of(const Window2D& w) { return {w.strides, w.dilation, w.padding}; }

}  // namespace

// ---- conv2d_max_pool ----

std::string Conv2DMaxPool::attrs() const { return attrs_of(window, pool, relu); }
Conv2DMaxPool Conv2DMaxPool::from_attrs(const Attrs& a) {
    a.only({"pool", "strides", "dilation", "same", "relu"});
    return {Window2D::from_attrs(a, false), pool_of(a), a.flag("relu")};
}

TypedShape Conv2DMaxPool::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 3);
    const Shape y = conv_output(window, pool, in);
    return {Shape{y[0], y[1] / pool[0], y[2] / pool[1], y[3]}, in[0].dtype};
}

void Conv2DMaxPool::forward(const Inputs& x, Tensor& y) const {
    const Pooled p = pooled_of(window, pool, x[0].shape(), x[1].shape());
    const Geometry& g = p.g;
    const RowTaps taps = row_taps(g);
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T *in = x[0].data<T>().data(), *w = x[1].data<T>().data(), *b = x[2].data<T>().data();
        T* out = y.data<T>().data();
        // Rows (n, py) in parallel, about 64K multiply-adds a task.
        const std::int64_t row_work = std::max<std::int64_t>(1, p.PW * pool[0] * pool[1] * g.KH * g.KW * g.C * p.F);
        parallel_chunks(g.N * p.PH, std::max<std::int64_t>(1, 65536 / row_work), [&](std::int64_t r0, std::int64_t r1) {
            std::array<T, buffer_size> buf;
            std::array<std::int32_t, max_filters> at;
            for (std::int64_t r = r0; r < r1; ++r) {
                const std::int64_t n = r / p.PH;
                each_pass(p, pool, r % p.PH, [&](const Pass& s) {
                    with_filters(s.nf, [&]<std::int64_t NF>() {
                        conv_values<NF>(p, pool, in + n * g.H * g.W * g.C, w, b, relu, s, taps, buf.data());
                    });
                    for (std::int64_t k = 0; k < s.columns; ++k)
                        window_max(pool, s, buf.data(), k, out + (r * p.PW + s.px0 + k) * p.F + s.f0, at.data());
                });
            }
        });
    });
}

void Conv2DMaxPool::reference(const Inputs& x, Tensor& y) const {
    const Shape ys = conv_shape(window, pool, x);
    const std::vector<long double> conv =
        naive_conv_relu(with_filter(window, x[1].shape()), x[0], x[1], x[2], relu, ys);
    for (std::int64_t i = 0; i < y.numel(); ++i)
        naive::set(y, i,
                   conv[static_cast<std::size_t>(naive_window_max(conv, ys, pool, naive::unravel(i, y.shape())))]);
}

// dx through the composite (y recomputed); dw and db by the fused backward op, sliced
// out of its (K + 1, F) rows.
Grads Conv2DMaxPool::gradient(const GradContext& c) const {
    const Conv2DOptions o = options_of(window);
    const Shape ws = c.x[1].shape();
    const std::int64_t K = ws[0] * ws[1] * ws[2], F = ws[3];
    std::optional<Expr> dwb;
    auto weights = [&] {
        if (!dwb) dwb = conv2d_max_pool_backprop(c.x[0], c.x[1], c.x[2], c.dy, relu, pool, o);
        return *dwb;
    };
    return grads(
        c,
        [&] {
            const Expr y = conv2d_bias(c.x[0], c.x[1], c.x[2], relu, o);
            const Expr routed = max_pool2d_grad(y, c.dy, pool, {.strides = pool});
            return conv2d_backprop_input(relu ? mask(routed, y) : routed, c.x[1], image_sample(c.x[0].shape()), o);
        },
        [&] { return reshape(slice(weights(), {0}, {K}), ws); },
        [&] { return reshape(slice(weights(), {K}, {K + 1}), Shape{F}); });
}

// ---- conv2d_max_pool_backprop ----

std::string Conv2DMaxPoolBackprop::attrs() const { return attrs_of(window, pool, relu); }
Conv2DMaxPoolBackprop Conv2DMaxPoolBackprop::from_attrs(const Attrs& a) {
    a.only({"pool", "strides", "dilation", "same", "relu"});
    return {Window2D::from_attrs(a, false), pool_of(a), a.flag("relu")};
}

TypedShape Conv2DMaxPoolBackprop::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 4);
    const Shape y = conv_output(window, pool, in.first(3));
    expect_same_dtype(in[0], in[3]);
    const Shape p{y[0], y[1] / pool[0], y[2] / pool[1], y[3]};
    if (in[3].shape != p)
        throw std::invalid_argument(fmt::format("dp is {}; conv2d_max_pool of the image {} by the filter {} gives {}",
                                                in[3].shape, in[0].shape, in[1].shape, p));
    const Shape& w = in[1].shape;
    return {Shape{w[0] * w[1] * w[2] + 1, w[3]}, in[0].dtype};
}

// One partial (K + 1, F) per group of images.
std::size_t Conv2DMaxPoolBackprop::workspace_bytes(std::span<const TypedShape> in) const {
    const Shape& w = in[1].shape;
    const auto part = aligned(static_cast<std::size_t>((w[0] * w[1] * w[2] + 1) * w[3]) * dtype_size(in[0].dtype));
    return static_cast<std::size_t>(groups_of(in[0].shape[0], part).first) * part;
}

void Conv2DMaxPoolBackprop::forward(const Inputs& x, Tensor& y) const {
    const Pooled p = pooled_of(window, pool, x[0].shape(), x[1].shape());
    const Geometry& g = p.g;
    const std::int64_t K = g.KH * g.KW * g.C, F = p.F;
    const RowTaps taps = row_taps(g);
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const std::size_t part_bytes = aligned(static_cast<std::size_t>((K + 1) * F) * sizeof(T));
        const std::pair<std::int64_t, std::int64_t> grouping = groups_of(g.N, part_bytes);
        const std::int64_t groups = grouping.first, size = grouping.second;  // (lambdas capture no bindings)
        T* out = y.data<T>().data();
        if (groups == 0) {  // no image: no gradient
            std::fill(out, out + (K + 1) * F, T(0));
            return;
        }
        OwnScratch own;  // outside a plan
        const std::span<std::byte> ws = scratch(x.workspace(), part_bytes * static_cast<std::size_t>(groups), own);
        auto part = [&](std::int64_t s) {  // group s's sums: dw (K, F), then db (F)
            return reinterpret_cast<T*>(ws.data() + static_cast<std::size_t>(s) * part_bytes);
        };
        const T *in = x[0].data<T>().data(), *w = x[1].data<T>().data(), *b = x[2].data<T>().data();
        const T* dp = x[3].data<T>().data();
        parallel_chunks(groups, 1, [&](std::int64_t s0, std::int64_t s1) {
            std::array<T, buffer_size> buf;
            std::array<T, max_filters> best;
            std::array<std::int32_t, max_filters> at;
            for (std::int64_t group = s0; group < s1; ++group) {
                T* dw = part(group);
                T* db = dw + K * F;
                std::fill(dw, dw + (K + 1) * F, T(0));
                for (std::int64_t n = group * size; n < std::min(g.N, (group + 1) * size); ++n) {
                    const T* image = in + n * g.H * g.W * g.C;
                    for (std::int64_t py = 0; py < p.PH; ++py)
                        each_pass(p, pool, py, [&](const Pass& s) {
                            with_filters(s.nf, [&]<std::int64_t NF>() {
                                conv_values<NF>(p, pool, image, w, b, relu, s, taps, buf.data());
                            });
                            // buf becomes dz: dp at each window's max (where relu's output is
                            // positive), 0 elsewhere.
                            const std::int64_t cols = s.columns * pool[1], nf = s.nf;
                            for (std::int64_t k = 0; k < s.columns; ++k) {
                                window_max(pool, s, buf.data(), k, best.data(), at.data());
                                const T* d = dp + ((n * p.PH + py) * p.PW + s.px0 + k) * F + s.f0;
                                for (std::int64_t f = 0; f < nf; ++f) {
                                    const T v = relu && !(best[f] > T(0)) ? T(0) : d[f];
                                    best[f] = v;
                                    db[s.f0 + f] += v;
                                }
                                for (std::int64_t qy = 0; qy < pool[0]; ++qy)
                                    for (std::int64_t qx = 0; qx < pool[1]; ++qx) {
                                        T* dz = buf.data() + (qy * cols + k * pool[1] + qx) * nf;
                                        const auto q = static_cast<std::int32_t>(qy * pool[1] + qx);
                                        for (std::int64_t f = 0; f < nf; ++f) dz[f] = at[f] == q ? best[f] : T(0);
                                    }
                            }
                            // dw[tap, c, f] += x at the tap times dz, over the pass's positions in
                            // order (one row of dw in registers along a row of positions).
                            if constexpr (std::is_same_v<T, float>)
                                if (on_rows<T>(g, taps, pool, s)) {
                                    for (std::int64_t qy = 0; qy < pool[0]; ++qy)
                                        filter_grad_row(tap_row(g, pool, s, qy, image, taps),
                                                        buf.data() + qy * cols * nf, nf, dw + s.f0, F);
                                    return;
                                }
                            with_filters(nf, [&]<std::int64_t NF>() {
                                each_tap_row(g, pool, s,
                                             [&](std::int64_t qy, std::int64_t iy, std::int64_t j0, std::int64_t j1,
                                                 std::int64_t ix0, std::int64_t tap) {
                                                 const T* row = image + (iy * g.W + ix0 + j0 * g.sw) * g.C;
                                                 const T* dz = buf.data() + (qy * cols + j0) * nf;
                                                 for (std::int64_t c = 0; c < g.C; ++c)
                                                     add_inner<NF>(dw + (tap * g.C + c) * F + s.f0, row + c, g.sw * g.C,
                                                                   dz, nf, j1 - j0, nf);
                                             });
                            });
                        });
                }
            }
        });
        parallel_chunks((K + 1) * F, 4096, [&](std::int64_t i0, std::int64_t i1) {
            for (std::int64_t i = i0; i < i1; ++i) {
                T acc = part(0)[i];
                for (std::int64_t s = 1; s < groups; ++s) acc += part(s)[i];
                out[i] = acc;
            }
        });
    });
}

// dw[ky, kx, c, f] = the sum over pooled outputs (n, py, px, f) of x at tap (ky, kx, c) of
// the window's max position times dz (dp, or 0 where relu's output is not positive);
// db[f] = the sum of dz.
void Conv2DMaxPoolBackprop::reference(const Inputs& x, Tensor& y) const {
    const Shape ys = conv_shape(window, pool, x);
    const Window2D cw = with_filter(window, x[1].shape());
    const std::vector<long double> conv = naive_conv_relu(cw, x[0], x[1], x[2], relu, ys);
    const Shape &xs = x[0].shape(), &ws = x[1].shape(), &ps = x[3].shape();
    const std::int64_t K = ws[0] * ws[1] * ws[2];
    std::vector<long double> acc(static_cast<std::size_t>(y.numel()), 0);
    for (std::int64_t i = 0; i < x[3].numel(); ++i) {
        const naive::Index o = naive::unravel(i, ps);
        const std::int64_t m = naive_window_max(conv, ys, pool, o);
        const long double dz = relu && !(conv[static_cast<std::size_t>(m)] > 0) ? 0 : naive::get(x[3], i);
        const naive::Index at = naive::unravel(m, ys);
        acc[static_cast<std::size_t>(K * ws[3] + o[3])] += dz;
        naive_window_taps(cw, xs, at[1], at[2],
                          [&](std::int64_t ky, std::int64_t kx, std::int64_t iy, std::int64_t ix) {
                              for (std::int64_t c = 0; c < ws[2]; ++c)
                                  acc[static_cast<std::size_t>(naive::ravel({ky, kx, c, o[3]}, ws))] +=
                                      naive::get(x[0], naive::ravel({o[0], iy, ix, c}, xs)) * dz;
                          });
    }
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, acc[static_cast<std::size_t>(i)]);
}

// z = [dw; db](x, w, b, dp), linear in dp through dz = mask?(max_pool2d_grad(y, dp), y):
// <g, z> = <conv2d_bias(x, gw, gb), dz>, so d(dp) = max_pool2d_select(y, mask?(conv2d_bias(x,
// gw, gb), y)), and dw = conv2d_backprop_filter(x, dz) gives dx = conv2d_backprop_input(dz,
// gw). y moves the max's position only where it jumps: none into w and b.
Grads Conv2DMaxPoolBackprop::gradient(const GradContext& c) const {
    const Conv2DOptions o = options_of(window);
    const Shape ws = c.x[1].shape();
    const std::int64_t K = ws[0] * ws[1] * ws[2], F = ws[3];
    const PoolOptions po{.strides = pool};
    std::optional<Expr> y;  // built once, for whichever gradient is wanted
    auto conv = [&] {
        if (!y) y = conv2d_bias(c.x[0], c.x[1], c.x[2], relu, o);
        return *y;
    };
    auto gw = [&] { return reshape(slice(c.dy, {0}, {K}), ws); };
    return grads(
        c,
        [&] {
            const Expr routed = max_pool2d_grad(conv(), c.x[3], pool, po);
            return conv2d_backprop_input(relu ? mask(routed, conv()) : routed, gw(), image_sample(c.x[0].shape()), o);
        },
        no_gradient, no_gradient,
        [&] {
            const Expr u = conv2d_bias(c.x[0], gw(), reshape(slice(c.dy, {K}, {K + 1}), Shape{F}), false, o);
            return max_pool2d_select(conv(), relu ? mask(u, conv()) : u, pool, po);
        });
}

}  // namespace adjoint::ops

namespace adjoint {

namespace {
ops::Window2D conv_window(const Conv2DOptions& o) { return {{1, 1}, o.strides, o.dilation, o.padding}; }
}  // namespace

Expr conv2d_max_pool(const Expr& x, const Expr& w, const Expr& bias, bool relu, std::array<std::int64_t, 2> pool_size,
                     Conv2DOptions options, SourceLocation loc) {
    return ops::make_listed(ops::Conv2DMaxPool{conv_window(options), pool_size, relu}, {x, w, bias}, loc);
}

Expr conv2d_max_pool_backprop(const Expr& x, const Expr& w, const Expr& bias, const Expr& dp, bool relu,
                              std::array<std::int64_t, 2> pool_size, Conv2DOptions options, SourceLocation loc) {
    return ops::make_listed(ops::Conv2DMaxPoolBackprop{conv_window(options), pool_size, relu}, {x, w, bias, dp}, loc);
}

}  // namespace adjoint
