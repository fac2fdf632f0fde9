// Convolution and pooling over images in NHWC layout: x (N, H, W, C), filters
// (KH, KW, C, F), as TensorFlow and Keras lay them out. Each forward op has its backward
// ops as ops of their own, whose rules are again these ops, so second order works:
//
//   y  = conv2d(x, w)                       dx = conv2d_backprop_input(dy, w)
//                                           dw = conv2d_backprop_filter(x, dy)
//   z = conv2d_backprop_input(dy, w)        d(dy) = conv2d(g, w), dw = conv2d_backprop_filter(g, dy)
//   z = conv2d_backprop_filter(x, dy)       dx = conv2d_backprop_input(dy, g), d(dy) = conv2d(x, g)
//   y = max_pool2d(x)                       dx = max_pool2d_grad(x, dy)  (dy to each window's max)
//   z = max_pool2d_grad(x, dy)              d(dy) = max_pool2d_select(x, g)  (g at each window's max)
//   z = max_pool2d_select(x, g)             dg = max_pool2d_grad(x, dz)
//   y = avg_pool2d(x)                       dx = avg_pool2d_grad(dy)
//   p = conv2d_max_pool(x, w, b)            dw, db = conv2d_max_pool_backprop(x, w, b, dp)
//   z = avg_pool2d_grad(dy)                 d(dy) = avg_pool2d(g)
// (conv2d is bilinear and the backprops are its adjoints: <g, conv2d(x, w)> =
// <conv2d_backprop_input(g, w), x> = <conv2d_backprop_filter(x, g), w>.) The max's
// position is piecewise constant in x, so no gradient flows into x through the selection.
#pragma once

#include <array>

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

enum class Padding {
    valid,  // windows lie inside the image: out = (in - ((k - 1) d + 1)) / s + 1
    same,   // out = ceil(in / s), zeros (or, pooling, nothing) around, the odd one after
};

// A window sliding over the two spatial dims (H, W): its size (a filter's KH, KW, or the
// pool size), strides, dilation (the gap between taps, 1 = none) and padding.
struct Window2D {
    std::array<std::int64_t, 2> size{1, 1};
    std::array<std::int64_t, 2> strides{1, 1};
    std::array<std::int64_t, 2> dilation{1, 1};
    Padding padding = Padding::valid;

    // Throws std::invalid_argument unless every number is positive.
    void check() const;
    // The output extent of spatial dim i (0 = H, 1 = W) for an input extent; throws when
    // a valid window does not fit.
    std::int64_t out(int i, std::int64_t in) const;
    // The padding before spatial dim i (TensorFlow's: half of the total, rounded down).
    std::int64_t pad_before(int i, std::int64_t in) const;
    // "size=[3, 3] strides=[2, 2] dilation=[2, 2] same", defaults left out (with_size:
    // whether the size is written; a filter's comes from its shape).
    std::string attrs(bool with_size) const;
    static Window2D from_attrs(const Attrs& a, bool with_size);
    bool operator==(const Window2D&) const = default;
};

// y[n, oy, ox, f] = sum over ky, kx, c of x[n, oy sh - pt + ky dh, ox sw - pl + kx dw, c]
// w[ky, kx, c, f] (+ bias[f], then relu, if given), out-of-image taps being 0. Inputs
// (x, w) or (x, w, bias). Fast: the image patches are laid out as rows (im2col, in the
// plan's workspace) and multiplied by w, seen as (KH KW C, F), with the GEMM, whose
// epilogue adds the bias and applies the relu while the tile is in cache.
struct Conv2D {
    static constexpr std::string_view name = "conv2d";
    Window2D window;  // size unused: the filter's
    bool relu = false;
    std::string attrs() const;
    static Conv2D from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    std::size_t workspace_bytes(std::span<const TypedShape> in) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// dx of conv2d from (dy, w): the patches' gradient dy w^T (a GEMM), added back into the
// image positions they came from (col2im), image by image in a fixed order.
struct Conv2DBackpropInput {
    static constexpr std::string_view name = "conv2d_backprop_input";
    Window2D window;  // size unused: the filter's
    Shape input;      // one sample of x: (H, W, C)
    std::string attrs() const;
    static Conv2DBackpropInput from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    std::size_t workspace_bytes(std::span<const TypedShape> in) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// dw of conv2d from (x, dy): patches^T dy, (KH KW C, N OH OW) x (N OH OW, F): one GEMM,
// or, for a small filter (too few tiles for the threads), the positions cut into a fixed
// number of slices whose partial filters are added in order (conv2d.cpp).
struct Conv2DBackpropFilter {
    static constexpr std::string_view name = "conv2d_backprop_filter";
    Window2D window;  // size = the filter's (KH, KW)
    std::string attrs() const;
    static Conv2DBackpropFilter from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    std::size_t workspace_bytes(std::span<const TypedShape> in) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// y[n, oy, ox, c] = the max of x over the window (padding taps take no part). The max is
// the first largest in row-major window order; a NaN in the window makes it NaN.
struct MaxPool2D {
    static constexpr std::string_view name = "max_pool2d";
    Window2D window;
    std::string attrs() const { return window.attrs(true); }
    static MaxPool2D from_attrs(const Attrs& a) { return {Window2D::from_attrs(a, true)}; }
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// (x, dy) -> dx: each window's dy added at the position of its max (max_pool2d's choice).
struct MaxPool2DGrad {
    static constexpr std::string_view name = "max_pool2d_grad";
    Window2D window;
    std::string attrs() const { return window.attrs(true); }
    static MaxPool2DGrad from_attrs(const Attrs& a) { return {Window2D::from_attrs(a, true)}; }
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// (x, g) -> z of max_pool2d(x)'s shape: z[window] = g at the position of the window's max.
struct MaxPool2DSelect {
    static constexpr std::string_view name = "max_pool2d_select";
    Window2D window;
    std::string attrs() const { return window.attrs(true); }
    static MaxPool2DSelect from_attrs(const Attrs& a) { return {Window2D::from_attrs(a, true)}; }
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// p = max_pool2d(relu?(conv2d(x, w) + bias)) in one pass, inputs (x, w, bias): pool
// windows of `pool` (PH, PW) with strides of the same size and valid padding (Keras'
// MaxPooling2D default) over the convolution's output, which is never stored. Each pooled
// value computes the convolution at its window's PH PW positions directly (taps outer,
// filters inner): for the small filters of a first layer (3x3 over 1 or 3 channels) the
// GEMM's K is too short to pay for the patches, and the (N, OH, OW, F) output, its pooling
// and, backward, its gradient, mask and sums are each a pass over memory. Rule: dx as the
// composite's (conv2d_bias, max_pool2d_grad, mask, conv2d_backprop_input); dw and db
// together by conv2d_max_pool_backprop.
struct Conv2DMaxPool {
    static constexpr std::string_view name = "conv2d_max_pool";
    static constexpr std::int64_t max_pool_positions = 256;  // PH PW, at most (the kernels' buffer)
    Window2D window;                                         // the convolution's; size unused: the filter's
    std::array<std::int64_t, 2> pool{2, 2};
    bool relu = false;
    std::string attrs() const;
    static Conv2DMaxPool from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// (x, w, bias, dp) -> (KH KW C + 1, F): rows 0..KH KW C - 1 are dw (w's layout, flat) and
// the last row db, for p = conv2d_max_pool(x, w, bias) and dp its gradient: with y the
// convolution's output, dz = mask?(max_pool2d_grad(y, dp), y) is dp at each window's max
// (where y > 0 with relu), dw = conv2d_backprop_filter(x, dz) and db = dz summed over
// (N, OH, OW), computed window by window without dz. Images are summed in up to 64 fixed
// groups, each into its own partial, added in group order: the same bits on any thread
// count. Rule (linear in dp; y is piecewise constant in x, w, bias): d(dp) =
// max_pool2d_select(y, mask?(conv2d_bias(x, gw, gb), y)), dx = conv2d_backprop_input(dz, gw).
struct Conv2DMaxPoolBackprop {
    static constexpr std::string_view name = "conv2d_max_pool_backprop";
    Window2D window;
    std::array<std::int64_t, 2> pool{2, 2};
    bool relu = false;
    std::string attrs() const;
    static Conv2DMaxPoolBackprop from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    std::size_t workspace_bytes(std::span<const TypedShape> in) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// y = the mean of x over the window's taps inside the image (TensorFlow's: padding
// taps are not counted).
struct AvgPool2D {
    static constexpr std::string_view name = "avg_pool2d";
    Window2D window;
    std::string attrs() const { return window.attrs(true); }
    static AvgPool2D from_attrs(const Attrs& a) { return {Window2D::from_attrs(a, true)}; }
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// dy -> dx: each window's dy / (its tap count) added to each of its taps.
struct AvgPool2DGrad {
    static constexpr std::string_view name = "avg_pool2d_grad";
    Window2D window;
    Shape input;  // one sample of x: (H, W, C)
    std::string attrs() const;
    static AvgPool2DGrad from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

struct Conv2DOptions {
    std::array<std::int64_t, 2> strides{1, 1};
    std::array<std::int64_t, 2> dilation{1, 1};
    ops::Padding padding = ops::Padding::valid;
};

// x (N, H, W, C) convolved with filters w (KH, KW, C, F) -> (N, OH, OW, F).
Expr conv2d(const Expr& x, const Expr& w, Conv2DOptions options = {}, SourceLocation loc = SourceLocation::current());
// conv2d(x, w) + bias (F,), then relu if asked: one node (the GEMM's epilogue).
Expr conv2d_bias(const Expr& x, const Expr& w, const Expr& bias, bool relu = false, Conv2DOptions options = {},
                 SourceLocation loc = SourceLocation::current());
// The backward ops (what conv2d's rule builds): input (H, W, C) is one sample of x.
Expr conv2d_backprop_input(const Expr& dy, const Expr& w, const Shape& input, Conv2DOptions options = {},
                           SourceLocation loc = SourceLocation::current());
Expr conv2d_backprop_filter(const Expr& x, const Expr& dy, std::array<std::int64_t, 2> filter_size,
                            Conv2DOptions options = {}, SourceLocation loc = SourceLocation::current());

// max_pool2d(relu?(conv2d_bias(x, w, bias)), pool) as one node (ops::Conv2DMaxPool): pool
// windows of pool_size, strides of the same size, valid padding.
Expr conv2d_max_pool(const Expr& x, const Expr& w, const Expr& bias, bool relu, std::array<std::int64_t, 2> pool_size,
                     Conv2DOptions options = {}, SourceLocation loc = SourceLocation::current());
// Its weights' gradient (KH KW C + 1, F): dw's rows, then db (ops::Conv2DMaxPoolBackprop).
Expr conv2d_max_pool_backprop(const Expr& x, const Expr& w, const Expr& bias, const Expr& dp, bool relu,
                              std::array<std::int64_t, 2> pool_size, Conv2DOptions options = {},
                              SourceLocation loc = SourceLocation::current());

struct PoolOptions {
    std::array<std::int64_t, 2> strides{0, 0};  // 0: the pool size (Keras' strides=None)
    ops::Padding padding = ops::Padding::valid;
};

// The window of a pooling op: strides 0 are the pool size.
ops::Window2D pool_window(std::array<std::int64_t, 2> pool_size, const PoolOptions& options);

// The max (mean) of each pool_size window of x (N, H, W, C), channel by channel.
Expr max_pool2d(const Expr& x, std::array<std::int64_t, 2> pool_size = {2, 2}, PoolOptions options = {},
                SourceLocation loc = SourceLocation::current());
Expr avg_pool2d(const Expr& x, std::array<std::int64_t, 2> pool_size = {2, 2}, PoolOptions options = {},
                SourceLocation loc = SourceLocation::current());
// The backward ops (what the pooling rules build): dy (or g) to the positions of each
// window's max, the selection at those positions, the averages' spread; input (H, W, C)
// is one sample of x.
Expr max_pool2d_grad(const Expr& x, const Expr& dy, std::array<std::int64_t, 2> pool_size = {2, 2},
                     PoolOptions options = {}, SourceLocation loc = SourceLocation::current());
Expr max_pool2d_select(const Expr& x, const Expr& g, std::array<std::int64_t, 2> pool_size = {2, 2},
                       PoolOptions options = {}, SourceLocation loc = SourceLocation::current());
Expr avg_pool2d_grad(const Expr& dy, const Shape& input, std::array<std::int64_t, 2> pool_size = {2, 2},
                     PoolOptions options = {}, SourceLocation loc = SourceLocation::current());
// The mean over H and W: (N, H, W, C) -> (N, C).
Expr global_avg_pool2d(const Expr& x, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
