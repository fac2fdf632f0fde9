// The numbers of one sliding-window op on NHWC images, resolved for its input: what the
// convolution and pooling kernels loop over. Internal to ops/.
#pragma once

#include <adjoint/ops/conv.hpp>

#include <algorithm>
#include <utility>

namespace adjoint::ops {

struct Geometry {
    std::int64_t N = 0, H = 0, W = 0, C = 0;  // the input
    std::int64_t OH = 0, OW = 0;              // the output's spatial dims
    std::int64_t KH = 0, KW = 0;              // the window
    std::int64_t sh = 1, sw = 1, dh = 1, dw = 1;
    std::int64_t pt = 0, pl = 0;  // padding at the top and on the left

    // For an input (N, H, W, C) (N may be `batch`) and the window (its size given).
    static Geometry of(const Window2D& window, const Shape& x);
    // The input row (column) of window tap ky (kx) for output row oy (column ox);
    // outside [0, H) ([0, W)) for a padding tap.
    std::int64_t iy(std::int64_t oy, std::int64_t ky) const { return oy * sh - pt + ky * dh; }
    std::int64_t ix(std::int64_t ox, std::int64_t kx) const { return ox * sw - pl + kx * dw; }
    // The window taps [lo, hi) of one dim that fall inside [0, extent), for a window
    // starting at `first` with taps `step` apart: computed, not searched, so that a
    // window far larger than the image costs what its taps inside do.
    static std::pair<std::int64_t, std::int64_t> inside(std::int64_t first, std::int64_t step, std::int64_t taps,
                                                        std::int64_t extent) {
        if (first > extent - 1) return {0, 0};
        const std::int64_t lo = first >= 0 ? 0 : (-first + step - 1) / step;
        return {lo, std::max(lo, std::min(taps, (extent - 1 - first) / step + 1))};
    }
    std::pair<std::int64_t, std::int64_t> rows(std::int64_t oy) const { return inside(iy(oy, 0), dh, KH, H); }
    std::pair<std::int64_t, std::int64_t> cols(std::int64_t ox) const { return inside(ix(ox, 0), dw, KW, W); }
    // The taps of output (oy, ox) inside the image, in row-major window order:
    // f(iy, ix, tap) with tap = ky KW + kx.
    template <class F> void taps(std::int64_t oy, std::int64_t ox, F&& f) const {
        const auto [ky0, ky1] = rows(oy);
        const auto [kx0, kx1] = cols(ox);
        for (std::int64_t ky = ky0; ky < ky1; ++ky)
            for (std::int64_t kx = kx0; kx < kx1; ++kx) f(iy(oy, ky), ix(ox, kx), ky * KW + kx);
    }
};

// Whether v takes over from best as a window's max: larger, or the first NaN (max_pool2d's
// rule, which its gradients and conv2d_max_pool follow). Branch-free (bitwise on the
// comparisons), so that the loops over channels vectorize.
template <class T> bool takes_over(T v, T best) { return (v > best) | ((v != v) & (best == best)); }

// The window of a filter (KH, KW, C, F): `w` with the filter's size.
inline Window2D with_filter(Window2D w, const Shape& filter) {
    w.size = {filter[0], filter[1]};
    return w;
}

// Calls f(ky, kx, iy, ix) for each tap of window w at output (oy, ox) that falls inside
// an image of shape xs (N, H, W, C), in row-major window order, from Window2D's
// definitions (pad_before) and nothing of the fast paths: the reference kernels' window.
template <class F> void naive_window_taps(const Window2D& w, const Shape& xs, std::int64_t oy, std::int64_t ox, F&& f) {
    const std::int64_t pt = w.pad_before(0, xs[1]), pl = w.pad_before(1, xs[2]);
    for (std::int64_t ky = 0; ky < w.size[0]; ++ky)
        for (std::int64_t kx = 0; kx < w.size[1]; ++kx) {
            const std::int64_t iy = oy * w.strides[0] - pt + ky * w.dilation[0];
            const std::int64_t ix = ox * w.strides[1] - pl + kx * w.dilation[1];
            if (iy >= 0 && iy < xs[1] && ix >= 0 && ix < xs[2]) f(ky, kx, iy, ix);
        }
}

// The naive convolution at output o = (n, oy, ox, f): the sum of x[n, iy, ix, c]
// w[ky, kx, c, f] over the taps inside the image, in long double, from Window2D's
// definitions (pad_before) and nothing of the fast paths. For the reference kernels.
long double naive_conv_at(const Window2D& window, const Tensor& x, const Tensor& w, std::span<const std::int64_t> o);

// One sample (H, W, C) of an image shape (N, H, W, C).
inline Shape image_sample(const Shape& x) { return Shape{x[1], x[2], x[3]}; }

// Checks that t is (N, H, W, C), of a floating dtype; `what` names it in the error.
void expect_image(const TypedShape& t, std::string_view what);

}  // namespace adjoint::ops
