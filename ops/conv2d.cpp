// conv2d and its two backward ops. Shapes: x (N, H, W, C), w (KH, KW, C, F),
// y (N, OH, OW, F); M = N OH OW output positions, K = KH KW C taps per position.
//
// Why it is fast: the patches of x are the rows of a (M, K) matrix (im2col: row m holds,
// for output position m, the K inputs its window covers, tap by tap, C channels each,
// zeros for padding), so that the convolution is one GEMM with w seen as (K, F):
// y = patches w. The backward ops are GEMMs on the same layout:
// dx = col2im(dy w^T) and dw = patches^T dy. A 1x1 window with stride 1 and no padding
// needs no patches: x itself is (M, K). The patches are never stored whole: the GEMM takes
// them by blocks (gemm_blocks), each task making the tens of KB it multiplies, in L1/L2
// (the whole matrix, 8.9 MB at the convnet's second layer, went through memory twice a
// product, and slowest when the machine's memory was busy: BENCHMARKS.md). Only a forward
// K too large for a task's buffer (over 3,072 taps in f32, 1,536 in f64) still stores
// them, in the plan's workspace, as dx's col, a product's output, is.
//
// Why it is deterministic: the GEMM sums in a fixed order (gemm.hpp), and col2im adds
// into each image in one task, output position after output position.
#include <adjoint/ops/conv.hpp>

#include <algorithm>
#include <cstring>

#include "../core/parallel.hpp"
#include "gemm.hpp"
#include "naive.hpp"
#include "op_list.hpp"
#include "scratch.hpp"
#include "window.hpp"
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/reduce.hpp>

namespace adjoint::ops {

namespace {

// Whether x is already the patch matrix: a 1x1 window, stride 1, no padding.
bool no_patches(const Geometry& g) {
    return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0;
}

// a * b * c, or std::invalid_argument naming `what` when it overflows 63 bits (a filter
// of F = 0, or an output of no elements, bounds none of the factors).
std::int64_t product(std::int64_t a, std::int64_t b, std::int64_t c, std::string_view what) {
    std::int64_t out = 0;
    if (__builtin_mul_overflow(a, b, &out) || __builtin_mul_overflow(out, c, &out))
        throw std::invalid_argument(fmt::format("the {} ({} x {} x {}) overflows 64 bits", what, a, b, c));
    return out;
}

std::int64_t positions(const Geometry& g) { return product(g.N, g.OH, g.OW, "output positions"); }
std::int64_t taps(const Geometry& g) { return product(g.KH, g.KW, g.C, "taps per window"); }

// Elements of the patch matrix.
std::int64_t patch_elements(const Geometry& g) {
    return product(positions(g), taps(g), 1, "patch matrix (positions x taps)");
}

// Bytes of the patch matrix, or 0 when x is used as it is.
std::size_t patch_bytes(const Geometry& g, DType t) {
    if (no_patches(g)) return 0;
    return aligned(static_cast<std::size_t>(
        product(patch_elements(g), static_cast<std::int64_t>(dtype_size(t)), 1, "patch matrix's bytes")));
}

// The block [m0, m1) x [t0, t1) of the patch matrix (M, K) into dst, row-major, rows ld
// apart: row m = output position (n, oy, ox), column t = tap (ky, kx, c). A window row
// inside the image with no dilation is KW C consecutive values of x: one copy (the first
// layer's C = 1 would otherwise copy one value at a time).
template <class T>
void patch_block(const Geometry& g, const T* x, std::int64_t m0, std::int64_t m1, std::int64_t t0, std::int64_t t1,
                 T* dst, std::int64_t ld) {
    if (t0 >= t1) return;  // no taps (C = 0 among them)
    const std::int64_t C = g.C, row_len = g.KW * C;
    const std::int64_t ky0 = t0 / row_len, ky1 = std::min(g.KH, (t1 + row_len - 1) / row_len);
    // (memcpy: a loop of the compiler's copied the odd tail of a 24-float run one float at
    // a time, and 24 is the filter gradient's common run.)
    auto copy = [](const T* from, std::int64_t n, T* to) {
        std::memcpy(to, from, static_cast<std::size_t>(n) * sizeof(T));
    };
    // Position m = (n, oy, ox), counted along (no division per position: a task of the
    // filter gradient's product fills a few taps of hundreds of positions).
    std::int64_t n = m0 / (g.OH * g.OW), oy = m0 / g.OW % g.OH, ox = m0 % g.OW;
    for (std::int64_t m = m0; m < m1; ++m) {
        const std::int64_t ix0 = g.ix(ox, 0);
        const bool whole_rows = g.dw == 1 && ix0 >= 0 && ix0 + g.KW <= g.W;
        T* const out = dst + (m - m0) * ld;  // tap t goes to out[t - t0]
        for (std::int64_t ky = ky0; ky < ky1; ++ky) {
            // This tap row's taps in the block: [s0, s1), from window column q0 of the row.
            const std::int64_t s0 = std::max(t0, ky * row_len), s1 = std::min(t1, (ky + 1) * row_len);
            const std::int64_t q0 = s0 - ky * row_len, iy = g.iy(oy, ky);
            if (iy < 0 || iy >= g.H) {
                std::fill(out + (s0 - t0), out + (s1 - t0), T(0));
                continue;
            }
            const T* image_row = x + (n * g.H + iy) * g.W * C;
            if (whole_rows) {
                copy(image_row + ix0 * C + q0, s1 - s0, out + (s0 - t0));
                continue;
            }
            for (std::int64_t q = q0; q < q0 + (s1 - s0);) {  // by window columns kx = q / C
                const std::int64_t kx = q / C, c = q % C, len = std::min(C - c, q0 + (s1 - s0) - q);
                const std::int64_t ix = g.ix(ox, kx);
                T* to = out + (ky * row_len + q - t0);
                if (ix < 0 || ix >= g.W) std::fill(to, to + len, T(0));
                else copy(image_row + ix * C + c, len, to);
                q += len;
            }
        }
        if (++ox == g.OW) {
            ox = 0;
            if (++oy == g.OH) oy = 0, ++n;
        }
    }
}

// Whether a product on x's patches takes them by blocks (gemm_blocks): where x is not its
// own patch matrix, and, as the GEMM's A not transposed, where K fits a task's buffer.
template <class T> bool patches_by_blocks(const Geometry& g, bool ta) {
    return !no_patches(g) && (ta || taps(g) <= gemm_blocks_max_k<T>);
}

// The whole patch matrix col (M, K) from x.
template <class T> void im2col(const Geometry& g, const T* x, T* col) {
    const std::int64_t K = taps(g);
    parallel_chunks(positions(g), std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(K, 1)),
                    [&](std::int64_t s, std::int64_t e) { patch_block(g, x, s, e, 0, K, col + s * K, K); });
}

// The patch matrix as a GEMM operand by blocks (gemm_blocks), never stored whole: each
// task of the product makes the part it multiplies. Positions from `first` on (a slice of
// them, for the filter gradient's slices).
template <class T> struct Patches {
    const Geometry* g;
    const T* x;
    std::int64_t first = 0;
    static void fill(const void* context, std::int64_t m0, std::int64_t m1, std::int64_t t0, std::int64_t t1, T* dst,
                     std::int64_t ld) {
        const auto* p = static_cast<const Patches*>(context);
        // Compiled once per instruction set (its copies vectorize), on this thread.
        call_isa_cloned([&](std::int64_t b, std::int64_t e) { patch_block(*p->g, p->x, b, e, t0, t1, dst, ld); },
                        p->first + m0, p->first + m1);
    }
};

// Storage for the patch matrix: the front of the workspace (`ws` is then what is left, for
// the GEMM), or, outside a plan, `own`.
template <class T> T* take_patches(const Geometry& g, std::span<std::byte>& ws, OwnScratch& own) {
    const std::size_t bytes = patch_bytes(g, sizeof(T) == 4 ? DType::f32 : DType::f64);
    if (ws.size() >= bytes) {
        T* p = reinterpret_cast<T*>(ws.data());
        ws = ws.subspan(bytes);
        return p;
    }
    ws = {};
    return reinterpret_cast<T*>(scratch({}, bytes, own).data());
}

// x's patch matrix: x itself when it is one (no_patches), else im2col into take_patches.
template <class T> const T* patches_of(const Geometry& g, const T* x, std::span<std::byte>& ws, OwnScratch& own) {
    if (no_patches(g)) return x;
    T* col = take_patches<T>(g, ws, own);
    im2col(g, x, col);
    return col;
}

// dx (N, H, W, C) = the sum, over output positions, of their col rows added at the taps.
template <class T> void col2im(const Geometry& g, const T* col, T* dx) {
    const std::int64_t K = taps(g), C = g.C;
    parallel_chunks(g.N, 1, [&](std::int64_t n0, std::int64_t n1) {
        for (std::int64_t n = n0; n < n1; ++n) {
            T* image = dx + n * g.H * g.W * C;
            std::fill(image, image + g.H * g.W * C, T(0));
            for (std::int64_t oy = 0; oy < g.OH; ++oy)
                for (std::int64_t ox = 0; ox < g.OW; ++ox) {
                    const T* row = col + ((n * g.OH + oy) * g.OW + ox) * K;
                    g.taps(oy, ox, [&](std::int64_t iy, std::int64_t ix, std::int64_t tap) {
                        T* to = image + (iy * g.W + ix) * C;
                        const T* from = row + tap * C;
                        for (std::int64_t c = 0; c < C; ++c) to[c] += from[c];
                    });
                }
        }
    });
}

// Checks a filter (KH, KW, C, F) against x's channels.
void expect_filter(const TypedShape& x, const TypedShape& w) {
    if (w.shape.rank() != 4 || w.shape.has_batch())
        throw std::invalid_argument(
            fmt::format("the filter is {}; filters are (height, width, in channels, "
                        "out channels)",
                        w.shape));
    expect_same_dtype(x, w);
    if (w.shape[2] != x.shape[3])
        throw std::invalid_argument(fmt::format("the filter {} takes {} channels, the image {} has {}", w.shape,
                                                w.shape[2], x.shape, x.shape[3]));
}

Conv2DOptions options_of(const Window2D& w) { return {w.strides, w.dilation, w.padding}; }

// The naive convolution, element by element (naive_conv_at).
void naive_conv(const Window2D& window, const Tensor& x, const Tensor& w, Tensor& y) {
    for (std::int64_t i = 0; i < y.numel(); ++i)
        naive::set(y, i, naive_conv_at(window, x, w, naive::unravel(i, y.shape())));
}

}  // namespace

// ---- conv2d ----

std::string Conv2D::attrs() const {
    const std::string w = window.attrs(false);
    return relu ? (w.empty() ? std::string("relu") : w + " relu") : w;
}
Conv2D Conv2D::from_attrs(const Attrs& a) {
    a.only({"strides", "dilation", "same", "relu"});
    return {Window2D::from_attrs(a, false), a.flag("relu")};
}

TypedShape Conv2D::infer(std::span<const TypedShape> in, std::int64_t) const {
    if (in.size() != 2 && in.size() != 3)
        throw std::invalid_argument(fmt::format("conv2d takes (x, w) or (x, w, bias), not {} inputs", in.size()));
    expect_image(in[0], "the image");
    expect_filter(in[0], in[1]);
    const Window2D w = with_filter(window, in[1].shape);
    w.check();
    const Shape& x = in[0].shape;
    const std::int64_t F = in[1].shape[3];
    if (in.size() == 3) {
        expect_same_dtype(in[0], in[2]);
        if (in[2].shape != Shape{F})
            throw std::invalid_argument(
                fmt::format("the bias is {}; it must be ({},), one value per filter", in[2].shape, F));
    }
    return {Shape{x[0], w.out(0, x[1]), w.out(1, x[2]), F}, in[0].dtype};
}

std::size_t Conv2D::workspace_bytes(std::span<const TypedShape> in) const {
    const Geometry g = Geometry::of(with_filter(window, in[1].shape), in[0].shape);
    const std::int64_t F = in[1].shape[3];
    return visit_floating(in[0].dtype, name, [&](auto tag) {
        using T = decltype(tag);
        if (patches_by_blocks<T>(g, false)) return gemm_blocks_workspace_bytes<T>(F, taps(g));
        return patch_bytes(g, in[0].dtype) + gemm_workspace_bytes<T>(false, positions(g), F, taps(g));
    });
}

void Conv2D::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(with_filter(window, x[1].shape()), x[0].shape());
    const std::int64_t F = x[1].shape()[3];
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        std::span<std::byte> ws = x.workspace();
        const Epilogue<T> epilogue{x.size() == 3 ? x[2].data<T>().data() : nullptr, relu};
        if (patches_by_blocks<T>(g, false)) {
            const Patches<T> patches{&g, x[0].data<T>().data()};
            gemm_blocks<T>(false, {Patches<T>::fill, &patches}, positions(g), F, taps(g), x[1].data<T>().data(),
                           y.data<T>().data(), ws, epilogue);
            return;
        }
        OwnScratch own;  // outside a plan (no workspace): the patches of this call
        const T* col = patches_of(g, x[0].data<T>().data(), ws, own);
        gemm<T>(false, false, positions(g), F, taps(g), col, x[1].data<T>().data(), y.data<T>().data(), ws, epilogue);
    });
}

void Conv2D::reference(const Inputs& x, Tensor& y) const {
    naive_conv(with_filter(window, x[1].shape()), x[0], x[1], y);
    if (x.size() < 3 && !relu) return;
    const std::int64_t F = y.shape()[3];
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        long double v = naive::get(y, i);
        if (x.size() == 3) v = static_cast<long double>(naive::get(y, i)) + naive::get(x[2], i % F);
        // After rounding to y's dtype, as the fast path adds in it.
        naive::set(y, i, v);
        v = naive::get(y, i);
        naive::set(y, i, relu && v < 0 ? 0 : v);
    }
}

// y = relu?(conv2d(x, w) + b): dz = relu ? mask(dy, y) : dy; dx, dw the adjoints of dz;
// db = dz summed over (N, OH, OW).
Grads Conv2D::gradient(const GradContext& c) const {
    const Expr dz = relu ? mask(c.dy, c.y) : c.dy;
    const Conv2DOptions o = options_of(window);
    const Shape w = c.x[1].shape();
    Grads g = grads(
        c, [&] { return conv2d_backprop_input(dz, c.x[1], image_sample(c.x[0].shape()), o); },
        [&] {
            return conv2d_backprop_filter(c.x[0], dz, {w[0], w[1]}, o);
        });
    if (c.x.size() == 3) g.push_back(c.wanted[2] ? std::optional<Expr>(sum(dz, {0, 1, 2})) : std::nullopt);
    return g;
}

// ---- conv2d_backprop_input ----

std::string Conv2DBackpropInput::attrs() const {
    const std::string w = window.attrs(false);
    return fmt::format("input={}{}{}", input, w.empty() ? "" : " ", w);
}
Conv2DBackpropInput Conv2DBackpropInput::from_attrs(const Attrs& a) {
    a.only({"input", "strides", "dilation", "same"});
    return {Window2D::from_attrs(a, false), a.shape("input")};
}

TypedShape Conv2DBackpropInput::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    if (input.rank() != 3 || input.has_batch() || input.numel() == 0)
        throw std::invalid_argument(fmt::format("the input sample is {}; it must be (height, width, channels)", input));
    expect_image(in[0], "dy");
    const TypedShape x{Shape{in[0].shape[0], input[0], input[1], input[2]}, in[0].dtype};
    expect_filter(x, in[1]);
    const TypedShape y = Conv2D{window}.infer(std::vector<TypedShape>{x, in[1]}, 0);
    if (y.shape != in[0].shape)
        throw std::invalid_argument(fmt::format("dy is {}; conv2d of {} by the filter {} gives {}", in[0].shape,
                                                x.shape, in[1].shape, y.shape));
    return x;
}

std::size_t Conv2DBackpropInput::workspace_bytes(std::span<const TypedShape> in) const {
    const Shape& dy = in[0].shape;
    const Geometry g = Geometry::of(with_filter(window, in[1].shape), Shape{dy[0], input[0], input[1], input[2]});
    return patch_bytes(g, in[0].dtype) + visit_floating(in[0].dtype, name, [&](auto tag) {
               return gemm_workspace_bytes<decltype(tag)>(true, positions(g), taps(g), dy[3]);
           });
}

void Conv2DBackpropInput::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(with_filter(window, x[1].shape()), y.shape());
    const std::int64_t F = x[1].shape()[3];
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T *dy = x[0].data<T>().data(), *w = x[1].data<T>().data();
        std::span<std::byte> ws = x.workspace();
        if (no_patches(g)) {  // dx is the patches' gradient itself
            gemm<T>(false, true, positions(g), taps(g), F, dy, w, y.data<T>().data(), ws);
            return;
        }
        OwnScratch own;  // outside a plan
        T* col = take_patches<T>(g, ws, own);
        gemm<T>(false, true, positions(g), taps(g), F, dy, w, col, ws);
        col2im(g, col, y.data<T>().data());
    });
}

// dx[n, iy, ix, c] = sum over (oy, ox, ky, kx, f) with iy, ix the tap's position of
// dy[n, oy, ox, f] w[ky, kx, c, f].
void Conv2DBackpropInput::reference(const Inputs& x, Tensor& y) const {
    const Tensor &dy = x[0], &w = x[1];
    const Shape &xs = y.shape(), &ws = w.shape(), &ds = dy.shape();
    const Window2D win = with_filter(window, ws);
    std::vector<long double> acc(static_cast<std::size_t>(y.numel()), 0);
    for (std::int64_t i = 0; i < dy.numel(); ++i) {
        const naive::Index o = naive::unravel(i, ds);
        naive_window_taps(win, xs, o[1], o[2], [&](std::int64_t ky, std::int64_t kx, std::int64_t iy, std::int64_t ix) {
            for (std::int64_t c = 0; c < ws[2]; ++c)
                acc[static_cast<std::size_t>(naive::ravel({o[0], iy, ix, c}, xs))] +=
                    naive::get(dy, i) * naive::get(w, naive::ravel({ky, kx, c, o[3]}, ws));
        });
    }
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, acc[static_cast<std::size_t>(i)]);
}

// z = BI(dy, w), linear in each: d(dy) = conv2d(g, w), dw = BF(g, dy).
Grads Conv2DBackpropInput::gradient(const GradContext& c) const {
    const Conv2DOptions o = options_of(window);
    const Shape w = c.x[1].shape();
    return grads(
        c, [&] { return conv2d(c.dy, c.x[1], o); },
        [&] {
            return conv2d_backprop_filter(c.dy, c.x[0], {w[0], w[1]}, o);
        });
}

// ---- conv2d_backprop_filter ----

std::string Conv2DBackpropFilter::attrs() const { return window.attrs(true); }
Conv2DBackpropFilter Conv2DBackpropFilter::from_attrs(const Attrs& a) {
    a.only({"size", "strides", "dilation", "same"});
    return {Window2D::from_attrs(a, true)};
}

TypedShape Conv2DBackpropFilter::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_image(in[0], "the image");
    expect_image(in[1], "dy");
    expect_same_dtype(in[0], in[1]);
    window.check();
    const Shape &x = in[0].shape, &dy = in[1].shape;
    const Shape want{x[0], window.out(0, x[1]), window.out(1, x[2]), dy[3]};
    if (dy != want)
        throw std::invalid_argument(fmt::format("dy is {}; a {}x{} filter on the image {} gives {}", dy, window.size[0],
                                                window.size[1], x, want));
    return {Shape{window.size[0], window.size[1], x[3], dy[3]}, in[0].dtype};
}

namespace {

// dw's sums run over every output position (43,264 at batch 64 in the first layer, 7,744
// in the second), its tiles are few (the first layer's (3, 3, 1, 32): one GEMM task;
// the second's (3, 3, 32, 64): 96 tiles, in tasks that each walk all positions). So the
// product is cut along the positions into a fixed number of slices of about 1,024
// positions or more, up to 8, multiplied in parallel, and the partial filters added in
// slice order: the same bits for any thread count (at the second layer, 3-4 % faster
// than one product). Filters of over 131,072 elements (4 MiB of f32 partials for 8
// slices) are one product.
std::int64_t filter_slices(const Geometry& g, std::int64_t F) {
    if (taps(g) * F > 131072) return 1;
    return std::clamp<std::int64_t>(positions(g) / 1024, 1, 8);
}

// Bytes of one slice: its partial filter and its GEMM's workspace.
// (The GEMM's need is not monotone in K, whether it packs A depending on K: the largest
// slice and the last, shorter one are both asked.)
template <class T> std::size_t slice_bytes(const Geometry& g, std::int64_t F, std::int64_t slices) {
    const std::int64_t M = positions(g), rows = (M + slices - 1) / slices, last = M - (slices - 1) * rows;
    auto product = [&](std::int64_t m) {  // patches^T dy over m positions
        return patches_by_blocks<T>(g, true) ? gemm_blocks_workspace_bytes<T>(F, m)
                                             : gemm_workspace_bytes<T>(false, taps(g), F, m);
    };
    if (slices == 1) return product(M);
    return aligned(static_cast<std::size_t>(taps(g) * F) * sizeof(T)) + aligned(std::max(product(rows), product(last)));
}

}  // namespace

std::size_t Conv2DBackpropFilter::workspace_bytes(std::span<const TypedShape> in) const {
    const Geometry g = Geometry::of(window, in[0].shape);
    const std::int64_t F = in[1].shape[3], slices = filter_slices(g, F);
    return visit_floating(in[0].dtype, name, [&](auto tag) {
        using T = decltype(tag);
        return (patches_by_blocks<T>(g, true) ? 0 : patch_bytes(g, in[0].dtype)) +
               static_cast<std::size_t>(slices) * slice_bytes<T>(g, F, slices);
    });
}

void Conv2DBackpropFilter::forward(const Inputs& x, Tensor& y) const {
    const Geometry g = Geometry::of(window, x[0].shape());
    const std::int64_t F = x[1].shape()[3];
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        std::span<std::byte> ws = x.workspace();
        const T* dy = x[1].data<T>().data();
        const std::int64_t slices = filter_slices(g, F), K = taps(g), M = positions(g);
        // dw (+)= the patches of positions [m0, m0 + m)^T dy's rows: by blocks, or from the
        // stored patch matrix.
        const bool by_blocks = patches_by_blocks<T>(g, true);
        OwnScratch own;  // outside a plan (no workspace): the patches of this call
        const T* col = by_blocks ? nullptr : patches_of(g, x[0].data<T>().data(), ws, own);
        auto product = [&](std::int64_t m0, std::int64_t m, T* out, std::span<std::byte> space) {
            if (!by_blocks) return gemm<T>(true, false, K, F, m, col + m0 * K, dy + m0 * F, out, space);
            const Patches<T> patches{&g, x[0].data<T>().data(), m0};
            gemm_blocks<T>(true, {Patches<T>::fill, &patches}, K, F, m, dy + m0 * F, out, space);
        };
        if (slices == 1) {
            product(0, M, y.data<T>().data(), ws);
            return;
        }
        const std::size_t each = slice_bytes<T>(g, F, slices),
                          partial = aligned(static_cast<std::size_t>(K * F) * sizeof(T));
        OwnScratch own_slices;  // outside a plan
        ws = scratch(ws, static_cast<std::size_t>(slices) * each, own_slices);
        const std::int64_t rows = (M + slices - 1) / slices;
        auto part = [&](std::int64_t s) {
            return reinterpret_cast<T*>(ws.data() + static_cast<std::size_t>(s) * each);
        };
        parallel_chunks(slices, 1, [&](std::int64_t s0, std::int64_t s1) {
            for (std::int64_t s = s0; s < s1; ++s) {
                const std::int64_t m0 = s * rows, m = std::min(M, m0 + rows) - m0;
                product(m0, m, part(s), ws.subspan(static_cast<std::size_t>(s) * each + partial, each - partial));
            }
        });
        T* out = y.data<T>().data();
        parallel_chunks(K * F, 4096, [&](std::int64_t i0, std::int64_t i1) {
            for (std::int64_t i = i0; i < i1; ++i) {
                T acc = part(0)[i];
                for (std::int64_t s = 1; s < slices; ++s) acc += part(s)[i];
                out[i] = acc;
            }
        });
    });
}

// dw[ky, kx, c, f] = sum over (n, oy, ox) of x[n, iy, ix, c] dy[n, oy, ox, f].
void Conv2DBackpropFilter::reference(const Inputs& x, Tensor& y) const {
    const Tensor &img = x[0], &dy = x[1];
    const Shape &xs = img.shape(), &ws = y.shape(), &ds = dy.shape();
    const std::int64_t pt = window.pad_before(0, xs[1]), pl = window.pad_before(1, xs[2]);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const naive::Index k = naive::unravel(i, ws);
        long double acc = 0;
        for (std::int64_t n = 0; n < ds[0]; ++n)
            for (std::int64_t oy = 0; oy < ds[1]; ++oy)
                for (std::int64_t ox = 0; ox < ds[2]; ++ox) {
                    const std::int64_t iy = oy * window.strides[0] - pt + k[0] * window.dilation[0];
                    const std::int64_t ix = ox * window.strides[1] - pl + k[1] * window.dilation[1];
                    if (iy < 0 || iy >= xs[1] || ix < 0 || ix >= xs[2]) continue;
                    acc += naive::get(img, naive::ravel({n, iy, ix, k[2]}, xs)) *
                           naive::get(dy, naive::ravel({n, oy, ox, k[3]}, ds));
                }
        naive::set(y, i, acc);
    }
}

// z = BF(x, dy), linear in each: dx = BI(dy, g), d(dy) = conv2d(x, g).
Grads Conv2DBackpropFilter::gradient(const GradContext& c) const {
    const Conv2DOptions o = options_of(window);
    return grads(
        c, [&] { return conv2d_backprop_input(c.x[1], c.dy, image_sample(c.x[0].shape()), o); },
        [&] { return conv2d(c.x[0], c.dy, o); });
}

}  // namespace adjoint::ops

namespace adjoint {

namespace {
ops::Window2D window_of(const Conv2DOptions& o, std::array<std::int64_t, 2> size = {1, 1}) {
    return {size, o.strides, o.dilation, o.padding};
}
}  // namespace

Expr conv2d(const Expr& x, const Expr& w, Conv2DOptions options, SourceLocation loc) {
    return ops::make_listed(ops::Conv2D{window_of(options), false}, {x, w}, loc);
}

Expr conv2d_bias(const Expr& x, const Expr& w, const Expr& bias, bool relu, Conv2DOptions options, SourceLocation loc) {
    return ops::make_listed(ops::Conv2D{window_of(options), relu}, {x, w, bias}, loc);
}

Expr conv2d_backprop_input(const Expr& dy, const Expr& w, const Shape& input, Conv2DOptions options,
                           SourceLocation loc) {
    return ops::make_listed(ops::Conv2DBackpropInput{window_of(options), input}, {dy, w}, loc);
}

Expr conv2d_backprop_filter(const Expr& x, const Expr& dy, std::array<std::int64_t, 2> filter_size,
                            Conv2DOptions options, SourceLocation loc) {
    return ops::make_listed(ops::Conv2DBackpropFilter{window_of(options, filter_size)}, {x, dy}, loc);
}

}  // namespace adjoint
