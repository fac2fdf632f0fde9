// Pooling over NHWC images, channel by channel: max_pool2d with its gradient and the
// gradient's gradient (a selection), avg_pool2d with its gradient. Windows take no
// dilation (Keras' pooling has none) and every window holds at least one tap of the image
// (TensorFlow's same padding never pads a whole window).
//
// The max's position in a window is the first tap, in row-major window order, whose value
// is larger than all before it, or the first NaN: the rule of max_pool2d's value
// (takes_over) and of the position max_pool2d_grad and max_pool2d_select use
// (argmax_taps), so a gradient goes exactly where the forward value came from.
//
// The gradients add into dx image by image, one task per image, window after window: the
// same bits for any thread count.
#include <adjoint/ops/conv.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"
#include "window.hpp"

namespace adjoint::ops {

namespace {

// Channels handled together when finding the windows' maxima: arrays on the stack.
constexpr std::int64_t channel_block = 64;

// For output (oy, ox) and channels [c0, c0 + nc): at[c] = the offset in the image
// ((iy W + ix) C + c0 + c) of the window's max, by the rule above. Taps outer, channels
// inner, 32-bit offsets beside 32-bit values and no branch: it vectorizes (inlined into
// the ISA-cloned loop of the caller).
template <class T>
[[gnu::always_inline]] inline void argmax_taps(const Geometry& g, const T* image, std::int64_t oy, std::int64_t ox,
                                               std::int64_t c0, std::int64_t nc, std::int32_t* at) {
    std::array<T, channel_block> best{};
    bool first = true;
    const auto [ky0, ky1] = g.rows(oy);
    const auto [kx0, kx1] = g.cols(ox);
    for (std::int64_t ky = ky0; ky < ky1; ++ky) {
        const std::int64_t iy = g.iy(oy, ky);
        for (std::int64_t kx = kx0; kx < kx1; ++kx) {
            const std::int64_t ix = g.ix(ox, kx);
            const auto base = static_cast<std::int32_t>((iy * g.W + ix) * g.C + c0);
            const T* v = image + base;
            if (first) {
                for (std::int32_t c = 0; c < nc; ++c) {
                    best[static_cast<std::size_t>(c)] = v[c];
                    at[c] = base + c;
                }
                first = false;
                continue;
            }
            for (std::int32_t c = 0; c < nc; ++c) {
                T& b = best[static_cast<std::size_t>(c)];
                const bool take = takes_over(v[c], b);
                b = take ? v[c] : b;
                at[c] = take ? base + c : at[c];
            }
        }
    }
}

// Calls f(oy, ox, c0, nc, at) for every output position of one image and block of
// channels, with at[] the maxima's offsets in the image.
template <class T, class F>
[[gnu::always_inline]] inline void each_window_max(const Geometry& g, const T* image, F&& f) {
    std::array<std::int32_t, channel_block> at{};
    for (std::int64_t oy = 0; oy < g.OH; ++oy)
        for (std::int64_t ox = 0; ox < g.OW; ++ox)
            for (std::int64_t c0 = 0; c0 < g.C; c0 += channel_block) {
                const std::int64_t nc = std::min(channel_block, g.C - c0);
                argmax_taps(g, image, oy, ox, c0, nc, at.data());
                f(oy, ox, c0, nc, at.data());
            }
}

// The checks every pooling op makes on an image x.
TypedShape pooled(const Window2D& window, const TypedShape& x) {
    expect_image(x, "the image");
    window.check();
    if (window.dilation != std::array<std::int64_t, 2>{1, 1})
        throw std::invalid_argument("pooling windows take no dilation");
    // The kernels keep positions in an image as 32-bit offsets.
    std::int64_t image = 0;
    if (__builtin_mul_overflow(x.shape[1], x.shape[2], &image) || __builtin_mul_overflow(image, x.shape[3], &image) ||
        image > std::numeric_limits<std::int32_t>::max())
        throw std::invalid_argument(fmt::format("the image {} holds more than 2^31 - 1 values per sample", x.shape));
    return {Shape{x.shape[0], window.out(0, x.shape[1]), window.out(1, x.shape[2]), x.shape[3]}, x.dtype};
}

// The naive max's position: the same rule, long double values, Window2D's definitions.
std::int64_t naive_argmax(const Window2D& w, const Tensor& x, const naive::Index& o) {
    const Shape& s = x.shape();
    std::int64_t best = -1;
    long double value = 0;
    naive_window_taps(w, s, o[1], o[2], [&](std::int64_t, std::int64_t, std::int64_t iy, std::int64_t ix) {
        const std::int64_t at = naive::ravel({o[0], iy, ix, o[3]}, s);
        const long double v = naive::get(x, at);
        if (best < 0 || v > value || (std::isnan(v) && !std::isnan(value))) {
            best = at;
            value = v;
        }
    });
    return best;
}

// The taps of a naive window, for the average: f(flat index in x).
template <class F> void naive_taps(const Window2D& w, const Shape& s, const naive::Index& o, F&& f) {
    naive_window_taps(w, s, o[1], o[2], [&](std::int64_t, std::int64_t, std::int64_t iy, std::int64_t ix) {
        f(naive::ravel({o[0], iy, ix, o[3]}, s));
    });
}

PoolOptions options_of(const Window2D& w) { return {w.strides, w.padding}; }

}  // namespace

// ---- max_pool2d ----

TypedShape MaxPool2D::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    return pooled(window, in[0]);
}

void MaxPool2D::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(window, x[0].shape());
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* in = x[0].data<T>().data();
        T* out = y.data<T>().data();
        // Rows (n, oy) in parallel; per output, taps outer and channels inner (unit stride).
        parallel_chunks(g.N * g.OH, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(g.OW * g.C, 1)),
                        [&](std::int64_t r0, std::int64_t r1) {
                            for (std::int64_t r = r0; r < r1; ++r) {
                                const std::int64_t n = r / g.OH, oy = r % g.OH;
                                const T* image = in + n * g.H * g.W * g.C;
                                for (std::int64_t ox = 0; ox < g.OW; ++ox) {
                                    T* o = out + (r * g.OW + ox) * g.C;
                                    bool first = true;
                                    g.taps(oy, ox, [&](std::int64_t iy, std::int64_t ix, std::int64_t) {
                                        const T* v = image + (iy * g.W + ix) * g.C;
                                        if (first) std::copy(v, v + g.C, o);
                                        else
                                            for (std::int64_t c = 0; c < g.C; ++c)
                                                o[c] = takes_over(v[c], o[c]) ? v[c] : o[c];
                                        first = false;
                                    });
                                }
                            }
                        });
    });
}

void MaxPool2D::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i)
        naive::set(y, i, naive::get(x[0], naive_argmax(window, x[0], naive::unravel(i, y.shape()))));
}

// dx = max_pool2d_grad(x, dy); x's own gradient through the selection is zero.
Grads MaxPool2D::gradient(const GradContext& c) const {
    return grads(c, [&] { return max_pool2d_grad(c.x[0], c.dy, window.size, options_of(window)); });
}

// ---- max_pool2d_grad ----

TypedShape MaxPool2DGrad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    const TypedShape y = pooled(window, in[0]);
    expect_same_dtype(in[0], in[1]);
    if (in[1].shape != y.shape)
        throw std::invalid_argument(
            fmt::format("dy is {}; max_pool2d of the image {} gives {}", in[1].shape, in[0].shape, y.shape));
    return in[0];
}

void MaxPool2DGrad::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(window, x[0].shape());
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T *in = x[0].data<T>().data(), *dy = x[1].data<T>().data();
        T* dx = y.data<T>().data();
        const std::int64_t image_size = g.H * g.W * g.C;
        parallel_chunks(g.N, 1, [&](std::int64_t n0, std::int64_t n1) {  // image by image
            for (std::int64_t n = n0; n < n1; ++n) {
                T* d = dx + n * image_size;
                std::fill(d, d + image_size, T(0));
                const T* dyn = dy + n * g.OH * g.OW * g.C;
                each_window_max(
                    g, in + n * image_size,
                    [&](std::int64_t oy, std::int64_t ox, std::int64_t c0, std::int64_t nc, const std::int32_t* at) {
                        const T* from = dyn + (oy * g.OW + ox) * g.C + c0;
                        for (std::int64_t c = 0; c < nc; ++c) d[at[c]] += from[c];
                    });
            }
        });
    });
}

void MaxPool2DGrad::reference(const Inputs& x, Tensor& y) const {
    std::vector<long double> acc(static_cast<std::size_t>(y.numel()), 0);
    for (std::int64_t i = 0; i < x[1].numel(); ++i)
        acc[static_cast<std::size_t>(naive_argmax(window, x[0], naive::unravel(i, x[1].shape())))] +=
            naive::get(x[1], i);
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, acc[static_cast<std::size_t>(i)]);
}

// z = grad(x, dy), linear in dy: d(dy) = select(x, g); none into x (piecewise constant).
Grads MaxPool2DGrad::gradient(const GradContext& c) const {
    return grads(c, no_gradient, [&] { return max_pool2d_select(c.x[0], c.dy, window.size, options_of(window)); });
}

// ---- max_pool2d_select ----

TypedShape MaxPool2DSelect::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    const TypedShape y = pooled(window, in[0]);
    expect_same_dtype(in[0], in[1]);
    if (in[1].shape != in[0].shape)
        throw std::invalid_argument(fmt::format(
            "the values to select from are {}; they must be of the image's shape {}", in[1].shape, in[0].shape));
    return y;
}

void MaxPool2DSelect::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(window, x[0].shape());
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T *in = x[0].data<T>().data(), *from = x[1].data<T>().data();
        T* out = y.data<T>().data();
        const std::int64_t image_size = g.H * g.W * g.C;
        parallel_chunks(g.N, 1, [&](std::int64_t n0, std::int64_t n1) {  // image by image
            for (std::int64_t n = n0; n < n1; ++n) {
                T* o = out + n * g.OH * g.OW * g.C;
                const T* image_from = from + n * image_size;
                each_window_max(
                    g, in + n * image_size,
                    [&](std::int64_t oy, std::int64_t ox, std::int64_t c0, std::int64_t nc, const std::int32_t* at) {
                        T* to = o + (oy * g.OW + ox) * g.C + c0;
                        for (std::int64_t c = 0; c < nc; ++c) to[c] = image_from[at[c]];
                    });
            }
        });
    });
}

void MaxPool2DSelect::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i)
        naive::set(y, i, naive::get(x[1], naive_argmax(window, x[0], naive::unravel(i, y.shape()))));
}

// z = select(x, g), linear in g: dg = grad(x, dz).
Grads MaxPool2DSelect::gradient(const GradContext& c) const {
    return grads(c, no_gradient, [&] { return max_pool2d_grad(c.x[0], c.dy, window.size, options_of(window)); });
}

// ---- avg_pool2d ----

TypedShape AvgPool2D::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    return pooled(window, in[0]);
}

void AvgPool2D::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(window, x[0].shape());
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* in = x[0].data<T>().data();
        T* out = y.data<T>().data();
        parallel_chunks(g.N * g.OH, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(g.OW * g.C, 1)),
                        [&](std::int64_t r0, std::int64_t r1) {
                            for (std::int64_t r = r0; r < r1; ++r) {
                                const std::int64_t n = r / g.OH, oy = r % g.OH;
                                const T* image = in + n * g.H * g.W * g.C;
                                for (std::int64_t ox = 0; ox < g.OW; ++ox) {
                                    T* o = out + (r * g.OW + ox) * g.C;
                                    std::fill(o, o + g.C, T(0));
                                    std::int64_t count = 0;
                                    g.taps(oy, ox, [&](std::int64_t iy, std::int64_t ix, std::int64_t) {
                                        const T* v = image + (iy * g.W + ix) * g.C;
                                        for (std::int64_t c = 0; c < g.C; ++c) o[c] += v[c];
                                        ++count;
                                    });
                                    for (std::int64_t c = 0; c < g.C; ++c) o[c] /= static_cast<T>(count);
                                }
                            }
                        });
    });
}

void AvgPool2D::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        long double total = 0;
        std::int64_t count = 0;
        naive_taps(window, x[0].shape(), naive::unravel(i, y.shape()), [&](std::int64_t at) {
            total += naive::get(x[0], at);
            ++count;
        });
        naive::set(y, i, total / static_cast<long double>(count));
    }
}

Grads AvgPool2D::gradient(const GradContext& c) const {
    return grads(c,
                 [&] { return avg_pool2d_grad(c.dy, image_sample(c.x[0].shape()), window.size, options_of(window)); });
}

// ---- avg_pool2d_grad ----

std::string AvgPool2DGrad::attrs() const { return fmt::format("input={} {}", input, window.attrs(true)); }
AvgPool2DGrad AvgPool2DGrad::from_attrs(const Attrs& a) {
    a.only({"input", "size", "strides", "dilation", "same"});
    return {Window2D::from_attrs(a, true), a.shape("input")};
}

TypedShape AvgPool2DGrad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    if (input.rank() != 3 || input.has_batch() || input.numel() == 0)
        throw std::invalid_argument(fmt::format("the input sample is {}; it must be (height, width, channels)", input));
    expect_image(in[0], "dy");
    const TypedShape x{Shape{in[0].shape[0], input[0], input[1], input[2]}, in[0].dtype};
    const TypedShape y = pooled(window, x);
    if (y.shape != in[0].shape)
        throw std::invalid_argument(
            fmt::format("dy is {}; avg_pool2d of the image {} gives {}", in[0].shape, x.shape, y.shape));
    return x;
}

void AvgPool2DGrad::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(window, y.shape());
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* dy = x[0].data<T>().data();
        T* dx = y.data<T>().data();
        const std::int64_t image_size = g.H * g.W * g.C;
        parallel_chunks(g.N, 1, [&](std::int64_t n0, std::int64_t n1) {  // image by image
            for (std::int64_t n = n0; n < n1; ++n) {
                T* d = dx + n * image_size;
                std::fill(d, d + image_size, T(0));
                for (std::int64_t oy = 0; oy < g.OH; ++oy)
                    for (std::int64_t ox = 0; ox < g.OW; ++ox) {
                        std::int64_t count = 0;
                        g.taps(oy, ox, [&](std::int64_t, std::int64_t, std::int64_t) { ++count; });
                        const T* v = dy + ((n * g.OH + oy) * g.OW + ox) * g.C;
                        g.taps(oy, ox, [&](std::int64_t iy, std::int64_t ix, std::int64_t) {
                            T* to = d + (iy * g.W + ix) * g.C;
                            for (std::int64_t c = 0; c < g.C; ++c) to[c] += v[c] / static_cast<T>(count);
                        });
                    }
            }
        });
    });
}

void AvgPool2DGrad::reference(const Inputs& x, Tensor& y) const {
    std::vector<long double> acc(static_cast<std::size_t>(y.numel()), 0);
    for (std::int64_t i = 0; i < x[0].numel(); ++i) {
        const naive::Index o = naive::unravel(i, x[0].shape());
        std::int64_t count = 0;
        naive_taps(window, y.shape(), o, [&](std::int64_t) { ++count; });
        // The share of each tap, rounded to the dtype as the fast path divides in it.
        Tensor share = Tensor::zeros({1}, y.dtype());
        naive::set(share, 0, naive::get(x[0], i) / static_cast<long double>(count));
        naive_taps(window, y.shape(), o,
                   [&](std::int64_t at) { acc[static_cast<std::size_t>(at)] += naive::get(share, 0); });
    }
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, acc[static_cast<std::size_t>(i)]);
}

// z = grad(dy), linear: d(dy) = avg_pool2d(g).
Grads AvgPool2DGrad::gradient(const GradContext& c) const {
    return grads(c, [&] { return avg_pool2d(c.dy, window.size, options_of(window)); });
}

}  // namespace adjoint::ops

namespace adjoint {

ops::Window2D pool_window(std::array<std::int64_t, 2> size, const PoolOptions& o) {
    return {size,
            {o.strides[0] == 0 ? size[0] : o.strides[0], o.strides[1] == 0 ? size[1] : o.strides[1]},
            {1, 1},
            o.padding};
}

Expr max_pool2d(const Expr& x, std::array<std::int64_t, 2> pool_size, PoolOptions options, SourceLocation loc) {
    return ops::make_listed(ops::MaxPool2D{pool_window(pool_size, options)}, {x}, loc);
}

Expr avg_pool2d(const Expr& x, std::array<std::int64_t, 2> pool_size, PoolOptions options, SourceLocation loc) {
    return ops::make_listed(ops::AvgPool2D{pool_window(pool_size, options)}, {x}, loc);
}

Expr max_pool2d_grad(const Expr& x, const Expr& dy, std::array<std::int64_t, 2> pool_size, PoolOptions options,
                     SourceLocation loc) {
    return ops::make_listed(ops::MaxPool2DGrad{pool_window(pool_size, options)}, {x, dy}, loc);
}

Expr max_pool2d_select(const Expr& x, const Expr& g, std::array<std::int64_t, 2> pool_size, PoolOptions options,
                       SourceLocation loc) {
    return ops::make_listed(ops::MaxPool2DSelect{pool_window(pool_size, options)}, {x, g}, loc);
}

Expr avg_pool2d_grad(const Expr& dy, const Shape& input, std::array<std::int64_t, 2> pool_size, PoolOptions options,
                     SourceLocation loc) {
    return ops::make_listed(ops::AvgPool2DGrad{pool_window(pool_size, options), input}, {dy}, loc);
}

Expr global_avg_pool2d(const Expr& x, SourceLocation loc) {
    if (x.valid() && x.shape().rank() != 4)
        throw Error(
            fmt::format("global_avg_pool2d \"{}\": the input is {}; images are (batch, height, width, "
                        "channels) ({})",
                        x.name(), x.shape(), where(loc)));
    return mean(x, {1, 2}, false, loc);
}

}  // namespace adjoint
