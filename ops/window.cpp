// Window2D's arithmetic (the output extent, TensorFlow's padding) and its attributes.
#include "window.hpp"

#include "naive.hpp"

#include <algorithm>

namespace adjoint::ops {

namespace {
// Large enough for any image, small enough that (k - 1) d + in cannot overflow.
constexpr std::int64_t max_window_number = std::int64_t{1} << 24;

std::vector<int> pair_of(const std::array<std::int64_t, 2>& a) {
    return {static_cast<int>(a[0]), static_cast<int>(a[1])};
}

std::array<std::int64_t, 2> pair_from(const Attrs& a, std::string_view key) {
    const std::vector<int> v = a.axes(key);
    if (v.size() != 2)
        throw std::invalid_argument(
            fmt::format("{} must be two numbers, [height, width], got {}", key, format_axes(v)));
    return {v[0], v[1]};
}
}  // namespace

void Window2D::check() const {
    for (const auto& [what, v] : {std::pair<const char*, std::array<std::int64_t, 2>>{"size", size},
                                  {"strides", strides},
                                  {"dilation", dilation}})
        for (std::int64_t d : v)
            if (d <= 0 || d > max_window_number)
                throw std::invalid_argument(
                    fmt::format("the window's {} [{}, {}] must be positive (and at most 2^24)", what, v[0], v[1]));
}

std::int64_t Window2D::out(int i, std::int64_t in) const {
    const auto d = static_cast<std::size_t>(i);
    const std::int64_t extent = (size[d] - 1) * dilation[d] + 1;                   // of the dilated window
    if (padding == Padding::same) return in <= 0 ? 0 : (in - 1) / strides[d] + 1;  // ceil(in / s), no overflow
    if (in < extent)
        throw std::invalid_argument(fmt::format("the {} window{} spans {} {} but the input has {} (padding valid)",
                                                i == 0 ? "height" : "width", dilation[d] > 1 ? " (dilated)" : "",
                                                extent, i == 0 ? "rows" : "columns", in));
    return (in - extent) / strides[d] + 1;
}

std::int64_t Window2D::pad_before(int i, std::int64_t in) const {
    if (padding == Padding::valid) return 0;
    const auto d = static_cast<std::size_t>(i);
    const std::int64_t extent = (size[d] - 1) * dilation[d] + 1;
    // ((out - 1) s - in) <= -1 first: no overflow for any in.
    const std::int64_t total = std::max<std::int64_t>(0, ((out(i, in) - 1) * strides[d] - in) + extent);
    return total / 2;
}

std::string Window2D::attrs(bool with_size) const {
    std::vector<std::string> parts;
    if (with_size) parts.push_back("size=" + format_axes(pair_of(size)));
    if (strides != std::array<std::int64_t, 2>{1, 1}) parts.push_back("strides=" + format_axes(pair_of(strides)));
    if (dilation != std::array<std::int64_t, 2>{1, 1}) parts.push_back("dilation=" + format_axes(pair_of(dilation)));
    if (padding == Padding::same) parts.emplace_back("same");
    return fmt::format("{}", fmt::join(parts, " "));
}

Window2D Window2D::from_attrs(const Attrs& a, bool with_size) {
    Window2D w;
    if (with_size) w.size = pair_from(a, "size");
    if (a.has("strides")) w.strides = pair_from(a, "strides");
    if (a.has("dilation")) w.dilation = pair_from(a, "dilation");
    if (a.flag("same")) w.padding = Padding::same;
    w.check();
    return w;
}

Geometry Geometry::of(const Window2D& window, const Shape& x) {
    Geometry g;
    g.N = x[0];
    g.H = x[1];
    g.W = x[2];
    g.C = x[3];
    g.OH = window.out(0, g.H);
    g.OW = window.out(1, g.W);
    g.KH = window.size[0];
    g.KW = window.size[1];
    g.sh = window.strides[0];
    g.sw = window.strides[1];
    g.dh = window.dilation[0];
    g.dw = window.dilation[1];
    g.pt = window.pad_before(0, g.H);
    g.pl = window.pad_before(1, g.W);
    return g;
}

void expect_image(const TypedShape& t, std::string_view what) {
    if (t.shape.rank() != 4)
        throw std::invalid_argument(
            fmt::format("{} is {}; images are (batch, height, width, channels) (NHWC)", what, t.shape));
    expect_floating(t, what);
}

long double naive_conv_at(const Window2D& window, const Tensor& x, const Tensor& w, std::span<const std::int64_t> o) {
    const Shape &xs = x.shape(), &ws = w.shape();
    long double acc = 0;
    naive_window_taps(window, xs, o[1], o[2], [&](std::int64_t ky, std::int64_t kx, std::int64_t iy, std::int64_t ix) {
        for (std::int64_t c = 0; c < ws[2]; ++c)
            acc +=
                naive::get(x, naive::ravel({o[0], iy, ix, c}, xs)) * naive::get(w, naive::ravel({ky, kx, c, o[3]}, ws));
    });
    return acc;
}

}  // namespace adjoint::ops
