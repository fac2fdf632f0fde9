// Convolution and pooling: values by hand, the fast kernels against the naive ones (every
// padding, stride, dilation and the bias/relu epilogue), gradients to second order.
#include <cmath>

#include "op_cases.hpp"
#include "ops/gemm.hpp"

namespace adjoint::test {

namespace {
using Exprs = std::span<const Expr>;
using ops::Padding;

// 1..n as an (1, h, w, 1) image.
Tensor counting_image(std::int64_t h, std::int64_t w) {
    Tensor t = Tensor::zeros({1, h, w, 1});
    for (std::int64_t i = 0; i < h * w; ++i) t.data<float>()[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
    return t;
}
}  // namespace

template <> void op_case<ops::Conv2D>() {
    // A 2x2 filter of ones over 1..9 (3x3): the sums of the four 2x2 windows.
    const Tensor ones = Tensor::from({1.f, 1.f, 1.f, 1.f}).view(Shape{2, 2, 1, 1}, DType::f32);
    const Tensor out = eval([](Exprs e) { return conv2d(e[0], e[1]); }, {counting_image(3, 3), ones});
    CHECK(out.shape() == Shape{1, 2, 2, 1});
    CHECK(values(out) == std::vector<double>{12, 16, 24, 28});
    // Same padding: zeros around, the odd one after (TensorFlow): 3x3 out, the corner 1+2+4+5.
    const Tensor same =
        eval([](Exprs e) { return conv2d(e[0], e[1], {.padding = Padding::same}); }, {counting_image(3, 3), ones});
    CHECK(values(same) == std::vector<double>{12, 16, 9, 24, 28, 15, 15, 17, 9});
    // Stride 2 with same padding on 5x5: windows centred on rows and columns 0, 2, 4; the
    // 3x3 ones filter sums each (the corner: 1 + 2 + 6 + 7).
    const Tensor ones3 = Tensor::full({3, 3, 1, 1}, 1.0);
    CHECK(values(eval(
              [](Exprs e) {
                  return conv2d(e[0], e[1], {.strides = {2, 2}, .padding = Padding::same});
              },
              {counting_image(5, 5), ones3})) == std::vector<double>{16, 33, 28, 69, 117, 87, 76, 123, 88});
    // Dilation 2: one tap in two.
    CHECK(values(eval(
              [](Exprs e) {
                  return conv2d(e[0], e[1], {.dilation = {2, 2}});
              },
              {counting_image(3, 3), ones})) == std::vector<double>{1 + 3 + 7 + 9});
    // Bias and relu as the epilogue.
    CHECK(values(eval([](Exprs e) { return conv2d_bias(e[0], e[1], e[2], true); },
                      {counting_image(3, 3), ones, Tensor::from({-20.f})})) == std::vector<double>{0, 0, 4, 8});

    // The fast path against the naive one, f32 and exactly-ordered f64, with every option
    // (the MNIST convnet's shapes among them), and the 1x1 path that needs no patches.
    auto conv = [](Conv2DOptions o) { return [o](Exprs e) { return conv2d(e[0], e[1], o); }; };
    agrees_with_reference(conv({}), {{Shape{batch, 28, 28, 1}}, {Shape{3, 3, 1, 32}}}, 1e-5, {1, 7});
    // K = 288 products in f32: as matmul's bound.
    agrees_with_reference(conv({}), {{Shape{batch, 13, 13, 32}}, {Shape{3, 3, 32, 64}}}, 1e-4, {3});
    agrees_with_reference(conv({.strides = {2, 1}, .dilation = {1, 2}, .padding = Padding::same}),
                          {{Shape{batch, 9, 8, 3}, DType::f64}, {Shape{3, 2, 3, 5}, DType::f64}}, 1e-12, {1, 5});
    agrees_with_reference(conv({.strides = {3, 3}}), {{Shape{4, 10, 11, 2}}, {Shape{2, 2, 2, 3}}}, 1e-5);
    agrees_with_reference(conv({}), {{Shape{batch, 4, 5, 6}}, {Shape{1, 1, 6, 7}}}, 1e-5, {1, 9});
    // K = 1,539 taps in f64: over what a GEMM task's buffer holds (1,536), so the patch
    // matrix is stored whole (im2col) rather than taken by blocks.
    static_assert(ops::gemm_blocks_max_k<double> == 1536);
    agrees_with_reference(conv({}), {{Shape{batch, 4, 4, 171}, DType::f64}, {Shape{3, 3, 171, 3}, DType::f64}}, 1e-12,
                          {1});
    agrees_with_reference([](Exprs e) { return conv2d_bias(e[0], e[1], e[2], true, {.padding = Padding::same}); },
                          {{Shape{batch, 6, 7, 3}}, {Shape{3, 3, 3, 4}}, {Shape{4}}}, 1e-5, {2});
    agrees_with_reference([](Exprs e) { return conv2d_bias(e[0], e[1], e[2]); },
                          {{Shape{2, 6, 7, 3}, DType::f32, -2, 2, 8}, {Shape{3, 3, 3, 4}}, {Shape{4}}}, 1e-5);

    // Gradients (the backprop ops' kernels, through the rule) to second order.
    check_op_gradients(conv({}), {{Shape{2, 5, 4, 2}}, {Shape{3, 2, 2, 3}}});
    check_op_gradients(conv({.strides = {2, 2}, .padding = Padding::same}), {{Shape{1, 5, 6, 2}}, {Shape{3, 3, 2, 2}}});
    check_op_gradients(conv({.dilation = {2, 1}, .padding = Padding::same}),
                       {{Shape{1, 5, 4, 1}}, {Shape{2, 3, 1, 2}}});
    check_op_gradients([](Exprs e) { return conv2d_bias(e[0], e[1], e[2], true); },
                       {{Shape{2, 4, 4, 2}}, {Shape{2, 2, 2, 3}}, {Shape{3}}});

    // Bad shapes and options name the fault.
    Graph g;
    const Expr x = g.placeholder("x", {batch, 28, 28, 1});
    CHECK_ERROR(conv2d(x, g.placeholder("w", {3, 3, 2, 8})), "the filter (3, 3, 2, 8) takes 2 channels", "has 1");
    CHECK_ERROR(conv2d(g.placeholder("flat", {batch, 784}), g.placeholder("w1", {3, 3, 1, 8})),
                "the image is (batch, 784); images are (batch, height, width, channels)");
    CHECK_ERROR(conv2d(x, g.placeholder("big", {29, 3, 1, 8})), "the height window spans 29 rows but the input has 28");
    CHECK_ERROR(conv2d(x, g.placeholder("w2", {3, 3, 1, 8}), {.strides = {0, 1}}), "strides [0, 1] must be positive");
    CHECK_ERROR(conv2d_bias(x, g.placeholder("w3", {3, 3, 1, 8}), g.placeholder("b", {4})),
                "the bias is (4,); it must be (8,)");
    CHECK_ERROR(conv2d(x, cast(g.placeholder("w4", {3, 3, 1, 8}), DType::f64)), "dtypes f32 and f64 differ");
}

template <> void op_case<ops::Conv2DBackpropInput>() {
    // The 2x2 ones filter spreads each dy over its window: the counts of windows per pixel.
    const Tensor ones = Tensor::from({1.f, 1.f, 1.f, 1.f}).view(Shape{2, 2, 1, 1}, DType::f32);
    const Tensor dy = Tensor::from({1.f, 1.f, 1.f, 1.f}).view(Shape{1, 2, 2, 1}, DType::f32);
    CHECK(values(eval(
              [](Exprs e) {
                  return conv2d_backprop_input(e[0], e[1], {3, 3, 1});
              },
              {dy, ones})) == std::vector<double>{1, 2, 1, 2, 4, 2, 1, 2, 1});
    auto bi = [](Shape input, Conv2DOptions o) {
        return [input, o](Exprs e) { return conv2d_backprop_input(e[0], e[1], input, o); };
    };
    agrees_with_reference(bi({13, 13, 32}, {}), {{Shape{batch, 11, 11, 64}}, {Shape{3, 3, 32, 64}}}, 1e-5, {2});
    agrees_with_reference(bi({9, 8, 3}, {.strides = {2, 1}, .dilation = {1, 2}, .padding = Padding::same}),
                          {{Shape{batch, 5, 8, 5}, DType::f64}, {Shape{3, 2, 3, 5}, DType::f64}}, 1e-12, {1, 4});
    agrees_with_reference(bi({4, 5, 6}, {}), {{Shape{3, 4, 5, 7}}, {Shape{1, 1, 6, 7}}}, 1e-5);
    check_op_gradients(bi({5, 4, 2}, {}), {{Shape{2, 3, 3, 3}}, {Shape{3, 2, 2, 3}}});
    check_op_gradients(bi({5, 6, 2}, {.strides = {2, 2}, .padding = Padding::same}),
                       {{Shape{1, 3, 3, 2}}, {Shape{3, 3, 2, 2}}});
    Graph g;
    CHECK_ERROR(
        conv2d_backprop_input(g.placeholder("dy", {batch, 26, 26, 8}), g.placeholder("w", {3, 3, 1, 8}), {27, 28, 1}),
        "dy is (batch, 26, 26, 8); conv2d of (batch, 27, 28, 1) by the filter (3, 3, 1, 8) gives (batch, 25, 26, 8)");
    CHECK_ERROR(
        conv2d_backprop_input(g.placeholder("dy2", {batch, 26, 26, 8}), g.placeholder("w2", {3, 3, 1, 8}), {28, 28}),
        "the input sample is (28, 28); it must be (height, width, channels)");
}

template <> void op_case<ops::Conv2DBackpropFilter>() {
    // With dy all ones, dw[ky, kx] sums the pixels tap (ky, kx) sees: 1+2+4+5 shifted.
    const Tensor dy = Tensor::from({1.f, 1.f, 1.f, 1.f}).view(Shape{1, 2, 2, 1}, DType::f32);
    CHECK(values(eval(
              [](Exprs e) {
                  return conv2d_backprop_filter(e[0], e[1], {2, 2});
              },
              {counting_image(3, 3), dy})) == std::vector<double>{12, 16, 24, 28});
    auto bf = [](std::array<std::int64_t, 2> k, Conv2DOptions o) {
        return [k, o](Exprs e) { return conv2d_backprop_filter(e[0], e[1], k, o); };
    };
    // Batch 13 has 8,788 positions: the product is cut into slices (conv2d.cpp).
    agrees_with_reference(bf({3, 3}, {}), {{Shape{batch, 28, 28, 1}}, {Shape{batch, 26, 26, 32}}}, 1e-4, {1, 13});
    agrees_with_reference(bf({3, 2}, {.strides = {2, 1}, .dilation = {1, 2}, .padding = Padding::same}),
                          {{Shape{batch, 9, 8, 3}, DType::f64}, {Shape{batch, 5, 8, 5}, DType::f64}}, 1e-12, {1, 4});
    agrees_with_reference(bf({1, 1}, {}), {{Shape{3, 4, 5, 6}}, {Shape{3, 4, 5, 7}}}, 1e-5);
    // f32 with padding and 5 channels: the GEMM's tasks take 6 taps a panel, so their
    // blocks of the patch matrix start inside a window column (tap 6 = kx 1, channel 1),
    // and the columns off the image are zeros; then dilated columns, copied one by one.
    agrees_with_reference(bf({3, 3}, {.padding = Padding::same}), {{Shape{batch, 7, 9, 5}}, {Shape{batch, 7, 9, 16}}},
                          1e-4, {2});
    agrees_with_reference(bf({2, 3}, {.dilation = {1, 2}, .padding = Padding::same}),
                          {{Shape{batch, 6, 8, 5}}, {Shape{batch, 6, 8, 3}}}, 1e-4, {1});
    check_op_gradients(bf({3, 2}, {}), {{Shape{2, 5, 4, 2}}, {Shape{2, 3, 3, 3}}});
    check_op_gradients(bf({3, 3}, {.strides = {2, 2}, .padding = Padding::same}),
                       {{Shape{1, 5, 6, 2}}, {Shape{1, 3, 3, 2}}});
    Graph g;
    CHECK_ERROR(
        conv2d_backprop_filter(g.placeholder("x", {batch, 28, 28, 1}), g.placeholder("dy", {batch, 26, 26, 8}), {2, 2}),
        "dy is (batch, 26, 26, 8); a 2x2 filter on the image (batch, 28, 28, 1) gives (batch, 27, 27, 8)");
}

template <> void op_case<ops::MaxPool2D>() {
    // 2x2 windows of 1..16 (4x4): the bottom-right of each.
    const Tensor out = eval([](Exprs e) { return max_pool2d(e[0]); }, {counting_image(4, 4)});
    CHECK(out.shape() == Shape{1, 2, 2, 1});
    CHECK(values(out) == std::vector<double>{6, 8, 14, 16});
    // Valid drops the odd row and column; same keeps them (windows of what is inside).
    CHECK(values(eval([](Exprs e) { return max_pool2d(e[0]); }, {counting_image(5, 5)})) ==
          std::vector<double>{7, 9, 17, 19});
    CHECK(values(eval(
              [](Exprs e) {
                  return max_pool2d(e[0], {2, 2}, {.padding = Padding::same});
              },
              {counting_image(3, 3)})) == std::vector<double>{5, 6, 8, 9});
    // Strides apart from the size; a NaN in the window wins; -inf stays.
    CHECK(values(eval(
              [](Exprs e) {
                  return max_pool2d(e[0], {2, 2}, {.strides = {1, 1}});
              },
              {counting_image(3, 3)})) == std::vector<double>{5, 6, 8, 9});
    const Tensor odd = Tensor::from({1.f, NAN, -INFINITY, -INFINITY}).view(Shape{1, 1, 4, 1}, DType::f32);
    const std::vector<double> v = values(eval([](Exprs e) { return max_pool2d(e[0], {1, 2}); }, {odd}));
    CHECK(std::isnan(v[0]));
    CHECK(v[1] == -INFINITY);
    agrees_with_reference([](Exprs e) { return max_pool2d(e[0]); }, {{Shape{batch, 26, 26, 32}, DType::f32, -2, 2, 7}},
                          0, {1, 3});
    agrees_with_reference(
        [](Exprs e) {
            return max_pool2d(e[0], {3, 2}, {.strides = {2, 1}, .padding = Padding::same});
        },
        {{Shape{batch, 7, 6, 3}, DType::f64}}, 0, {1, 4});
    check_op_gradients([](Exprs e) { return max_pool2d(e[0]); }, {{Shape{2, 4, 5, 3}}});
    check_op_gradients(
        [](Exprs e) {
            return max_pool2d(e[0], {3, 3}, {.strides = {2, 2}, .padding = Padding::same});
        },
        {{Shape{1, 5, 5, 2}}});
    Graph g;
    CHECK_ERROR(max_pool2d(g.placeholder("x", {batch, 3, 3, 1}), {4, 4}),
                "the height window spans 4 rows but the input has 3");
    CHECK_ERROR(max_pool2d(g.placeholder("y", {batch, 3, 3, 1}), {0, 2}), "size [0, 2] must be positive");
}

template <> void op_case<ops::MaxPool2DGrad>() {
    // dy goes to each window's max; a tie goes to the first.
    const Tensor x = Tensor::from({{1.f, 3.f}, {3.f, 2.f}}).view(Shape{1, 2, 2, 1}, DType::f32);
    Graph g;
    const Expr xe = g.placeholder("x", {1, 2, 2, 1});
    const Expr loss = sum(max_pool2d(xe) * 5.f);
    const Expr dx = gradients(loss, {xe})[0];
    Session s(g);
    CHECK(values(s.run({dx}, {{xe, x}})[0]) == std::vector<double>{0, 5, 0, 0});
    // Overlapping windows add.
    const Tensor flat = Tensor::from({1.f, 9.f, 2.f}).view(Shape{1, 1, 3, 1}, DType::f32);
    const Expr xf = g.placeholder("xf", {1, 1, 3, 1});
    const Expr df = gradients(sum(max_pool2d(xf, {1, 2}, {.strides = {1, 1}})), {xf})[0];
    CHECK(values(s.run({df}, {{xf, flat}})[0]) == std::vector<double>{0, 2, 0});
    // The kernel against the naive one, and its own gradients (into dy).
    agrees_with_reference(
        [](Exprs e) {
            return max_pool2d_grad(e[0], e[1], {3, 3}, {.strides = {2, 2}, .padding = Padding::same});
        },
        {{Shape{batch, 9, 9, 4}, DType::f64}, {Shape{batch, 5, 5, 4}, DType::f64}}, 1e-15, {1, 3});  // overlaps add
    agrees_with_reference([](Exprs e) { return max_pool2d_grad(e[0], e[1]); },
                          {{Shape{batch, 26, 26, 8}}, {Shape{batch, 13, 13, 8}}}, 0, {2});
    // Disjoint windows that leave the last row and column uncovered (the convnet's second
    // pooling, 11 -> 5), that pad (same), that leave gaps (stride 3 > 2), and 70 channels
    // (a block of 64 and 6).
    agrees_with_reference([](Exprs e) { return max_pool2d_grad(e[0], e[1]); },
                          {{Shape{batch, 11, 11, 70}}, {Shape{batch, 5, 5, 70}}}, 0, {4});
    agrees_with_reference(
        [](Exprs e) {
            return max_pool2d_grad(e[0], e[1], {2, 2}, {.padding = Padding::same});
        },
        {{Shape{batch, 5, 7, 3}}, {Shape{batch, 3, 4, 3}}}, 0, {5});
    agrees_with_reference(
        [](Exprs e) {
            return max_pool2d_grad(e[0], e[1], {2, 2}, {.strides = {3, 3}});
        },
        {{Shape{batch, 8, 8, 3}}, {Shape{batch, 3, 3, 3}}}, 0, {6});
    // NaN and infinities (edge values): the fast kernel picks the naive kernel's position.
    agrees_with_reference([](Exprs e) { return max_pool2d_grad(e[0], e[1]); },
                          {{Shape{batch, 8, 8, 3}, DType::f32, -2, 2, 5}, {Shape{batch, 4, 4, 3}}}, 0, {3});
    // Ties: the first tap of each window takes the gradient.
    CHECK(values(eval([](Exprs e) { return max_pool2d_grad(e[0], e[1]); },
                      {Tensor::full({1, 2, 4, 1}, 1.0), Tensor::full({1, 1, 2, 1}, 3.0)})) ==
          std::vector<double>{3, 0, 3, 0, 0, 0, 0, 0});
    check_op_gradients([](Exprs e) { return max_pool2d_grad(e[0], e[1]); }, {{Shape{1, 4, 4, 2}}, {Shape{1, 2, 2, 2}}});
}

template <> void op_case<ops::MaxPool2DSelect>() {
    // g at each window's max: 1..16 selected where 1..16 is largest.
    CHECK(values(eval([](Exprs e) { return max_pool2d_select(e[0], e[1]); },
                      {counting_image(4, 4), counting_image(4, 4)})) == std::vector<double>{6, 8, 14, 16});
    // It is what the second-order path builds: d/d(dy) of max_pool2d_grad.
    Graph g;
    const Expr x = g.placeholder("x", {1, 4, 4, 1}), dy = g.placeholder("dy", {1, 2, 2, 1});
    const Expr dx = max_pool2d_grad(x, dy);
    const Expr second = gradients(sum(dx * g.constant(counting_image(4, 4))), {dy})[0];
    CHECK(std::string(second.node().op->name()) == "max_pool2d_select");
    agrees_with_reference([](Exprs e) { return max_pool2d_select(e[0], e[1]); },
                          {{Shape{batch, 8, 8, 3}, DType::f32, -2, 2, 5}, {Shape{batch, 8, 8, 3}}}, 0, {3});
    agrees_with_reference(
        [](Exprs e) {
            return max_pool2d_select(e[0], e[1], {2, 3}, {.padding = Padding::same});
        },
        {{Shape{batch, 6, 7, 3}, DType::f64}, {Shape{batch, 6, 7, 3}, DType::f64}}, 0, {1, 2});
    check_op_gradients([](Exprs e) { return max_pool2d_select(e[0], e[1]); },
                       {{Shape{1, 4, 4, 2}}, {Shape{1, 4, 4, 2}}});
}

template <> void op_case<ops::AvgPool2D>() {
    CHECK(values(eval([](Exprs e) { return avg_pool2d(e[0]); }, {counting_image(4, 4)})) ==
          std::vector<double>{3.5, 5.5, 11.5, 13.5});
    // Same padding averages the taps inside the image only.
    CHECK(values(eval(
              [](Exprs e) {
                  return avg_pool2d(e[0], {2, 2}, {.padding = Padding::same});
              },
              {counting_image(3, 3)})) == std::vector<double>{3, 4.5, 7.5, 9});
    agrees_with_reference(
        [](Exprs e) {
            return avg_pool2d(e[0], {3, 2}, {.strides = {2, 1}, .padding = Padding::same});
        },
        {{Shape{batch, 7, 6, 3}}}, 1e-6, {1, 4});
    check_op_gradients(
        [](Exprs e) {
            return avg_pool2d(e[0], {3, 3}, {.strides = {2, 2}, .padding = Padding::same});
        },
        {{Shape{1, 5, 5, 2}}});
    // Global average pooling: the mean over H and W.
    CHECK(values(eval([](Exprs e) { return global_avg_pool2d(e[0]); }, {counting_image(3, 3)})) ==
          std::vector<double>{5});
    Graph g;
    CHECK_ERROR(global_avg_pool2d(g.placeholder("x", {batch, 10})), "the input is (batch, 10); images are");
}

template <> void op_case<ops::AvgPool2DGrad>() {
    // Each window's dy spread evenly over its taps; overlapping windows add.
    CHECK(values(eval(
              [](Exprs e) {
                  return avg_pool2d_grad(e[0], {1, 3, 1}, {1, 2}, {.strides = {1, 1}});
              },
              {Tensor::from({2.f, 4.f}).view(Shape{1, 1, 2, 1}, DType::f32)})) == std::vector<double>{1, 3, 2});
    auto grad = [](Exprs e) {
        return avg_pool2d_grad(e[0], {5, 7, 3}, {2, 3}, {.strides = {1, 2}, .padding = Padding::same});
    };
    agrees_with_reference(grad, {{Shape{batch, 5, 4, 3}}}, 1e-6, {1, 3});
    check_op_gradients(grad, {{Shape{1, 5, 4, 3}}});
    Graph g;
    CHECK_ERROR(avg_pool2d_grad(g.placeholder("dy", {batch, 5, 4, 3}), {5, 7, 3}),
                "dy is (batch, 5, 4, 3); avg_pool2d of the image (batch, 5, 7, 3) gives (batch, 2, 3, 3)");
}

}  // namespace adjoint::test
