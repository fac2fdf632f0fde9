// conv2d_max_pool and its backward op: values by hand, the fast kernels against the naive
// ones and against the composite they fuse (conv2d_bias, max_pool2d; max_pool2d_grad, mask,
// conv2d_backprop_filter, sum), with every convolution option and pools that leave rows
// over; gradients to second order; the shape errors.
#include <cmath>

#include "core/isa.hpp"
#include "op_cases.hpp"

namespace adjoint::test {

namespace {
using Exprs = std::span<const Expr>;
using ops::Padding;

// The fused forward op and its composite on the same random inputs: the largest relative
// difference (the fused sums run in the GEMM's order, but without its FMA).
double fused_against_composite(const Shape& x, const Shape& w, bool relu, std::array<std::int64_t, 2> pool,
                               Conv2DOptions o) {
    Graph g;
    const Expr xe = g.placeholder("x", x), we = g.placeholder("w", w), be = g.placeholder("b", {w[3]});
    const Expr fused = conv2d_max_pool(xe, we, be, relu, pool, o);
    const Expr composite = max_pool2d(conv2d_bias(xe, we, be, relu, o), pool);
    Session s(g);
    const auto out = s.run({fused, composite}, {{xe, random_tensor(x, DType::f32, -1, 1, 11)},
                                                {we, random_tensor(w, DType::f32, -1, 1, 12)},
                                                {be, random_tensor({w[3]}, DType::f32, -0.5, 0.5, 13)}});
    return max_rel_diff(out[0], out[1]);
}

// Restores the kernels in use when the test is done.
struct KeepIsa {
    Isa saved = isa();
    ~KeepIsa() { set_isa(saved); }
};
}  // namespace

template <> void op_case<ops::Conv2DMaxPool>() {
    // 1..16 (4x4) under a 2x2 filter of ones: the 3x3 sums 14 18 22 / 30 34 38 / 46 50 54;
    // the 2x2 pool over the top-left four (the last row and column fill no window): 34.
    Tensor image = Tensor::zeros({1, 4, 4, 1});
    for (std::int64_t i = 0; i < 16; ++i) image.data<float>()[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
    const Tensor ones = Tensor::full({2, 2, 1, 1}, 1.0);
    auto fused = [](bool relu) { return [relu](Exprs e) { return conv2d_max_pool(e[0], e[1], e[2], relu, {2, 2}); }; };
    CHECK(values(eval(fused(false), {image, ones, Tensor::from({-40.f})})) == std::vector<double>{-6});
    CHECK(values(eval(fused(true), {image, ones, Tensor::from({-40.f})})) == std::vector<double>{0});

    // The fast kernel against the naive one: the convnet's first layer (28x28x1, 32 3x3
    // filters), f64 with same padding, strides and dilation, a 3x2 pool leaving rows over,
    // and 70 filters (a count with no unrolled loop).
    agrees_with_reference(fused(true), {{Shape{batch, 28, 28, 1}}, {Shape{3, 3, 1, 32}}, {Shape{32}}}, 1e-5, {1, 5});
    agrees_with_reference(
        [](Exprs e) {
            return conv2d_max_pool(e[0], e[1], e[2], true, {3, 2},
                                   {.strides = {1, 2}, .dilation = {2, 1}, .padding = Padding::same});
        },
        {{Shape{batch, 9, 11, 3}, DType::f64}, {Shape{3, 2, 3, 5}, DType::f64}, {Shape{5}, DType::f64}}, 1e-12, {2});
    agrees_with_reference(fused(false), {{Shape{batch, 7, 7, 2}}, {Shape{2, 2, 2, 70}}, {Shape{70}}}, 1e-5, {3});
    // Passes: 40 filters under 16x16 pools run as 32 and 8 filters, one pooled column a
    // pass; 16 and 64 filters take the loops unrolled for them; a batch of 0.
    auto pooled16 = [](Exprs e) { return conv2d_max_pool(e[0], e[1], e[2], true, {16, 16}); };
    agrees_with_reference(pooled16, {{Shape{batch, 34, 34, 1}}, {Shape{3, 3, 1, 40}}, {Shape{40}}}, 1e-5, {2});
    agrees_with_reference(fused(true), {{Shape{batch, 10, 10, 3}}, {Shape{3, 3, 3, 16}}, {Shape{16}}}, 1e-5, {0, 2});
    agrees_with_reference(fused(true), {{Shape{batch, 8, 8, 1}}, {Shape{3, 3, 1, 64}}, {Shape{64}}}, 1e-5, {2});
    // A NaN in a window is its max, as max_pool2d's rule has it; ties go to the first.
    Tensor nan_image = Tensor::full({1, 2, 4, 1}, 1.0);
    nan_image.data<float>()[1] = std::nanf("");
    const Tensor nan_out = eval(
        [](Exprs e) {
            return conv2d_max_pool(e[0], e[1], e[2], false, {2, 2}, {.padding = Padding::same});
        },
        {nan_image, Tensor::full({1, 1, 1, 1}, 1.0), Tensor::from({0.f})});
    CHECK(std::isnan(values(nan_out)[0]));
    CHECK(values(nan_out)[1] == 1);

    // Against the composite it fuses.
    CHECK(fused_against_composite({8, 28, 28, 1}, {3, 3, 1, 32}, true, {2, 2}, {}) < 1e-6);
    CHECK(fused_against_composite({4, 11, 9, 3}, {3, 3, 3, 8}, false, {2, 2}, {.padding = Padding::same}) < 1e-6);

    // Gradients, first and second order, with and without relu.
    check_op_gradients(fused(true), {{Shape{2, 6, 6, 2}}, {Shape{3, 3, 2, 3}}, {Shape{3}}});
    check_op_gradients(
        [](Exprs e) {
            return conv2d_max_pool(e[0], e[1], e[2], false, {2, 3}, {.padding = Padding::same});
        },
        {{Shape{1, 5, 7, 1}}, {Shape{2, 2, 1, 2}}, {Shape{2}}});

    // Shapes that do not fit, named.
    Graph g;
    const Expr x = g.placeholder("x", {batch, 5, 5, 2}), w = g.placeholder("w", {3, 3, 2, 4});
    const Expr b = g.placeholder("b", {4}), b3 = g.placeholder("b3", {3});
    CHECK_ERROR(conv2d_max_pool(x, w, b, true, {4, 4}), "the pool [4, 4] is larger than the convolution's output");
    CHECK_ERROR(conv2d_max_pool(x, w, b3, true, {2, 2}), "the bias is (3,); it must be (4,)");
    CHECK_ERROR(conv2d_max_pool(x, g.placeholder("w1", {3, 3, 1, 4}), b, true, {2, 2}), "takes 1 channels");
    CHECK_ERROR(conv2d_max_pool(x, w, b, true, {0, 2}), "[0, 2]");
    const Expr big = g.placeholder("big", {batch, 40, 40, 1});
    CHECK_ERROR(conv2d_max_pool(big, g.placeholder("w3", {3, 3, 1, 4}), b, true, {17, 16}),
                "the pool [17, 16] must be positive and span at most 256 positions");
}

template <> void op_case<ops::Conv2DMaxPoolBackprop>() {
    auto backprop = [](bool relu, std::array<std::int64_t, 2> pool, Conv2DOptions o = {}) {
        return [=](Exprs e) { return conv2d_max_pool_backprop(e[0], e[1], e[2], e[3], relu, pool, o); };
    };
    // The fast kernel against the naive one, as the forward op's cases.
    agrees_with_reference(backprop(true, {2, 2}),
                          {{Shape{batch, 28, 28, 1}}, {Shape{3, 3, 1, 32}}, {Shape{32}}, {Shape{batch, 13, 13, 32}}},
                          1e-5, {1, 3});
    agrees_with_reference(backprop(true, {3, 2}, {.strides = {1, 2}, .dilation = {2, 1}, .padding = Padding::same}),
                          {{Shape{batch, 9, 11, 3}, DType::f64},
                           {Shape{3, 2, 3, 5}, DType::f64},
                           {Shape{5}, DType::f64},
                           {Shape{batch, 3, 3, 5}, DType::f64}},
                          1e-12, {2, 70});  // 70 images: groups of 2
    agrees_with_reference(backprop(false, {2, 2}),
                          {{Shape{batch, 7, 7, 2}}, {Shape{2, 2, 2, 70}}, {Shape{70}}, {Shape{batch, 3, 3, 70}}}, 1e-5,
                          {3});
    // Two filter passes and two column passes; 16 and 64 filters; a batch of 0 (dw = 0).
    agrees_with_reference(backprop(true, {16, 16}),
                          {{Shape{batch, 34, 34, 1}}, {Shape{3, 3, 1, 40}}, {Shape{40}}, {Shape{batch, 2, 2, 40}}},
                          1e-5, {2});
    agrees_with_reference(backprop(true, {2, 2}),
                          {{Shape{batch, 10, 10, 3}}, {Shape{3, 3, 3, 16}}, {Shape{16}}, {Shape{batch, 4, 4, 16}}},
                          1e-5, {0, 2});
    agrees_with_reference(backprop(false, {2, 2}),
                          {{Shape{batch, 8, 8, 1}}, {Shape{3, 3, 1, 64}}, {Shape{64}}, {Shape{batch, 3, 3, 64}}}, 1e-5,
                          {2});

    // Against what the composite's gradient builds: dw and db of
    // sum(max_pool2d(conv2d_bias(x, w, b, relu)) * dp), the convnet's first layer.
    Graph g;
    const Expr x = g.placeholder("x", {16, 28, 28, 1}), w = g.placeholder("w", {3, 3, 1, 32});
    const Expr b = g.placeholder("b", {32}), dp = g.placeholder("dp", {16, 13, 13, 32});
    const Expr fused = conv2d_max_pool_backprop(x, w, b, dp, true, {2, 2});
    const std::vector<Expr> composite = gradients(sum(max_pool2d(conv2d_bias(x, w, b, true)) * dp), {w, b});
    Session s(g);
    const auto out =
        s.run({fused, composite[0], composite[1]}, {{x, random_tensor(x.shape(), DType::f32, 0, 1, 21)},
                                                    {w, random_tensor(w.shape(), DType::f32, -0.5, 0.5, 22)},
                                                    {b, random_tensor(b.shape(), DType::f32, -0.1, 0.1, 23)},
                                                    {dp, random_tensor(dp.shape(), DType::f32, -1, 1, 24)}});
    const std::vector<double> both = values(out[0]), dw = values(out[1]), db = values(out[2]);
    double worst = 0;
    for (std::size_t i = 0; i < dw.size(); ++i)
        worst = std::max(worst, std::abs(both[i] - dw[i]) / (1 + std::abs(dw[i])));
    for (std::size_t i = 0; i < db.size(); ++i)
        worst = std::max(worst, std::abs(both[dw.size() + i] - db[i]) / (1 + std::abs(db[i])));
    CHECK(worst < 1e-4);

    // Its own gradients: into x and dp (second order of the forward op), none into w and b.
    check_op_gradients(backprop(true, {2, 2}),
                       {{Shape{2, 6, 6, 2}}, {Shape{3, 3, 2, 3}}, {Shape{3}}, {Shape{2, 2, 2, 3}}});
    check_op_gradients(backprop(false, {2, 3}, {.padding = Padding::same}),
                       {{Shape{1, 5, 7, 1}}, {Shape{2, 2, 1, 2}}, {Shape{2}}, {Shape{1, 2, 2, 2}}});

    CHECK_ERROR(conv2d_max_pool_backprop(x, w, b, g.placeholder("dp2", {16, 12, 13, 32}), true, {2, 2}),
                "dp is (16, 12, 13, 32); conv2d_max_pool of the image (16, 28, 28, 1) by the filter (3, 3, 1, 32) "
                "gives (16, 13, 13, 32)");
}

// The AVX-512 row kernels (ops/conv_rows.cpp) give the bits of the portable loops they
// replace (which the AVX2 path runs), both ops: 32 filters (the convnet's first layer), 16
// over 27 taps (tap blocks of 12, 12 and 3), 64 (blocks of 6 and 3), a pass split into 32
// and 8 filters (the 8 stay portable), and same padding, whose rows are cut into border
// and inner passes (the inner ones of inner rows take the kernels), on a small image and
// on one wide enough for passes of 64 pooled columns; with relu and without.
TEST_CASE("conv2d_max_pool: the AVX-512 row kernels give the bits of the loops they replace") {
    if (best_isa() < Isa::avx512) {
        MESSAGE("skipped: this CPU has no AVX-512");
        return;
    }
    KeepIsa keep;
    struct Case {
        Shape x, w;
        std::array<std::int64_t, 2> pool;
        Conv2DOptions o;
    };
    const std::vector<Case> cases{{{4, 28, 28, 1}, {3, 3, 1, 32}, {2, 2}, {}},
                                  {{3, 10, 10, 3}, {3, 3, 3, 16}, {2, 2}, {}},
                                  {{2, 8, 8, 1}, {3, 3, 1, 64}, {2, 2}, {.strides = {1, 2}}},
                                  {{2, 34, 34, 1}, {3, 3, 1, 40}, {16, 16}, {}},
                                  {{3, 17, 15, 2}, {3, 3, 2, 32}, {2, 2}, {.padding = Padding::same}},
                                  {{2, 6, 300, 2}, {3, 3, 2, 32}, {2, 2}, {.padding = Padding::same}},
                                  {{2, 9, 11, 1}, {3, 3, 1, 16}, {3, 2}, {.strides = {1, 2}, .padding = Padding::same}},
                                  {{2, 13, 13, 1}, {2, 3, 1, 32}, {3, 2}, {.dilation = {2, 1}}}};
    for (const Case& c : cases)
        for (bool relu : {true, false}) {
            const std::string shapes = fmt::format("{} by {}", c.x, c.w);
            CAPTURE(shapes);
            CAPTURE(relu);
            Graph g;
            const Expr x = g.placeholder("x", c.x), w = g.placeholder("w", c.w), b = g.placeholder("b", {c.w[3]});
            const Expr p = conv2d_max_pool(x, w, b, relu, c.pool, c.o);
            const Expr dp = g.placeholder("dp", p.shape());
            const Expr dw = conv2d_max_pool_backprop(x, w, b, dp, relu, c.pool, c.o);
            const Feeds feeds{{x, random_tensor(c.x, DType::f32, -1, 1, 31)},
                              {w, random_tensor(c.w, DType::f32, -1, 1, 32)},
                              {b, random_tensor({c.w[3]}, DType::f32, -0.2, 0.2, 33)},
                              {dp, random_tensor(p.shape(), DType::f32, -1, 1, 34)}};
            auto run = [&](Isa i) {
                set_isa(i);
                Session s(g);
                return s.run({p, dw}, feeds);
            };
            const auto wide = run(Isa::avx512), narrow = run(Isa::avx2);
            CHECK(bitwise_equal(wide[0], narrow[0]));
            CHECK(bitwise_equal(wide[1], narrow[1]));
        }
}

}  // namespace adjoint::test
