// The numbers of one sliding-window op on NHWC images, resolved for its input: what the
// convolution and pooling kernels loop over. Internal to ops/.
#pragma once

#include <adjoint/ops/conv.hpp>

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
    // The taps of output (oy, ox) inside the image, in row-major window order:
    // f(iy, ix, tap) with tap = ky KW + kx.
    template <class F> void taps(std::int64_t oy, std::int64_t ox, F&& f) const {
        for (std::int64_t ky = 0; ky < KH; ++ky) {
            const std::int64_t y = iy(oy, ky);
            if (y < 0 || y >= H) continue;
            for (std::int64_t kx = 0; kx < KW; ++kx) {
                const std::int64_t x = ix(ox, kx);
                if (x >= 0 && x < W) f(y, x, ky * KW + kx);
            }
        }
    }
};

// Checks that t is (N, H, W, C), of a floating dtype; `what` names it in the error.
void expect_image(const TypedShape& t, std::string_view what);

}  // namespace adjoint::ops
