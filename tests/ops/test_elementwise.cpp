// Element-wise ops (elementwise.def) and pow: each op's case gives hand-checked values,
// edge values among them; the shared helpers add the empty tensor, agreement with the
// naive reference on ordinary and edge inputs, and gradient checks to second order.
#include <bit>
#include <cmath>
#include <limits>

#include <atomic>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include "core/parallel.hpp"
#include "op_cases.hpp"

namespace adjoint::test {

namespace {

using Exprs = std::span<const Expr>;
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// The same values, NaN matching NaN and zeros matching in sign, within `rel` of |want|.
void check_values(const Tensor& got, const std::vector<double>& want, double rel = 1e-6) {
    const std::vector<double> v = values(got);
    CHECK(v.size() == want.size());
    for (std::size_t i = 0; i < std::min(v.size(), want.size()); ++i) {
        INFO("element ", i, ": ", v[i], " expected ", want[i]);
        if (std::isnan(want[i])) CHECK(std::isnan(v[i]));
        else if (std::isinf(want[i])) CHECK(v[i] == want[i]);
        else if (want[i] == 0) CHECK((v[i] == 0 && std::signbit(v[i]) == std::signbit(want[i])));
        else CHECK(std::abs(v[i] - want[i]) <= rel * std::abs(want[i]));
    }
}

// f on hand-picked points, in f32 and f64: `want` holds f at each of `x` (edge values
// included); then NaN in, NaN out; the empty tensor; agreement with the naive reference
// on (batch, 37) and on edge values; gradients at random points of [lo, hi] (away from
// poles), to second order.
template <class F>
void unary_case(F f, const std::vector<double>& x, const std::vector<double>& want, double lo = -3, double hi = 3) {
    auto g = [&](Exprs e) { return f(e[0]); };
    const Shape n{static_cast<std::int64_t>(x.size())};
    std::vector<float> xf(x.begin(), x.end());
    check_values(eval(g, {Tensor::from<double>(x, n)}), want, 1e-14);
    check_values(eval(g, {Tensor::from<float>(xf, n)}), want);
    const Tensor not_a_number = eval(g, {Tensor::from({NAN})});
    CHECK(std::isnan(not_a_number.item<float>()));
    CHECK(eval(g, {Tensor::zeros({0})}).shape() == Shape{0});
    agrees_with_reference(g, {{Shape{batch, 37}, DType::f32, lo, hi}});
    agrees_with_reference(g, {{Shape{5, 3}, DType::f64, lo, hi}}, 1e-15);
    agrees_with_reference(g, {{Shape{40, 37}, DType::f32, lo, hi, 4}});
    check_op_gradients(g, {{Shape{3, 4}, DType::f64, lo, hi}});
}

}  // namespace

template <> void op_case<ops::Neg>() {
    unary_case([](const Expr& x) { return -x; }, {1, -2, 0, -0.0, inf}, {-1, 2, -0.0, 0, -inf});
    CHECK(neg(Graph().placeholder("x", {2})).node().op_name() == "neg");
}
template <> void op_case<ops::Exp>() {
    unary_case([](const Expr& x) { return exp(x); }, {0, 1, -1, -inf, inf, -1000},
               {1, std::exp(1.0), std::exp(-1.0), 0, inf, 0});
}
template <> void op_case<ops::Log>() {
    unary_case([](const Expr& x) { return log(x); }, {1, std::exp(2.0), 0.5, 0, -1, inf},
               {0, 2, std::log(0.5), -inf, nan, inf}, 0.01, 5);
}
template <> void op_case<ops::Sqrt>() {
    unary_case([](const Expr& x) { return sqrt(x); }, {4, 0, 2.25, -0.0, -1, inf}, {2, 0, 1.5, -0.0, nan, inf}, 0.1, 5);
}
template <> void op_case<ops::Square>() {
    unary_case([](const Expr& x) { return square(x); }, {3, -2, 0.5, -0.0, -inf}, {9, 4, 0.25, 0, inf});
}
template <> void op_case<ops::Relu>() {
    // NaN passes through, as in PyTorch; -0 stays -0 (x < 0 is false for it).
    unary_case([](const Expr& x) { return relu(x); }, {-1, 0, 2.5, -0.0, inf, -inf, nan},
               {0, 0, 2.5, -0.0, inf, 0, nan});
}
template <> void op_case<ops::Sigmoid>() {
    // The far tails are exact: no overflow in either branch.
    unary_case([](const Expr& x) { return sigmoid(x); }, {0, 80, -80, -1000, 1000, inf, -inf},
               {0.5, 1, std::exp(-80.0) / (1 + std::exp(-80.0)), 0, 1, 1, 0});
}
template <> void op_case<ops::Tanh>() {
    unary_case([](const Expr& x) { return tanh(x); }, {0, 1, -20, -0.0, inf}, {0, std::tanh(1.0), -1, -0.0, 1});
}
template <> void op_case<ops::Softplus>() {
    // log(1 + e^x): exact for large |x| (no overflow, no loss to 1 + tiny).
    unary_case([](const Expr& x) { return softplus(x); }, {0, 1, -1, 100, -80, inf, -inf},
               {std::log(2.0), std::log1p(std::exp(1.0)), std::log1p(std::exp(-1.0)), 100, std::exp(-80.0), inf, 0});
}
template <> void op_case<ops::Abs>() {
    unary_case([](const Expr& x) { return abs(x); }, {-2, 3, -0.0, -inf, inf}, {2, 3, 0, inf, inf});
}
template <> void op_case<ops::Sign>() {
    // Zeros keep their sign, NaN stays NaN (as numpy's and PyTorch's sign do).
    auto f = [](Exprs e) { return sign(e[0]); };
    check_values(eval(f, {Tensor::from({-2.f, 3.f, -0.f, 0.f, -INFINITY, INFINITY, 1e-45f})}),
                 {-1, 1, -0.0, 0, -1, 1, 1});
    CHECK(std::isnan(eval(f, {Tensor::from({NAN})}).item<float>()));
    agrees_with_reference(f, {{Shape{batch, 37}, DType::f32, -3, 3, 4}});
    agrees_with_reference(f, {{Shape{5, 3}, DType::f64, -3, 3}}, 0);
    check_no_gradient(f, {{Shape{3, 4}}});
}
template <> void op_case<ops::Log1p>() {
    // Exact where log(1 + x) loses x to rounding.
    unary_case([](const Expr& x) { return log1p(x); }, {0, 1e-10, std::exp(1.0) - 1, -1, -2, inf, -0.0},
               {0, 1e-10 - 5e-21, 1, -inf, nan, inf, -0.0}, -0.5, 3);
}
template <> void op_case<ops::Expm1>() {
    unary_case([](const Expr& x) { return expm1(x); }, {0, 1e-10, 1, -inf, inf, -0.0},
               {0, 1e-10 + 5e-21, std::exp(1.0) - 1, -1, inf, -0.0});
}
template <> void op_case<ops::Erf>() {
    unary_case([](const Expr& x) { return erf(x); }, {0, 1, -1, inf, -inf, 10, -0.0},
               {0, std::erf(1.0), -std::erf(1.0), 1, -1, 1, -0.0});
}
template <> void op_case<ops::Gelu>() {
    // x * Phi(x), exact: Keras' and PyTorch's default (not the tanh approximation). The left
    // tail goes to -0, not to NaN (-inf * 0).
    const double phi1 = 0.5 * std::erfc(-1 / std::sqrt(2.0));
    unary_case([](const Expr& x) { return gelu(x); }, {0, 1, -1, 10, -10, inf, -inf, -40},
               {0, phi1, -(1 - phi1), 10, -10 * 0.5 * std::erfc(10 * 0.7071067811865476), inf, -0.0, -0.0});
}
template <> void op_case<ops::Pow>() {
    unary_case([](const Expr& x) { return pow(x, 3); }, {2, -1, 0.5, -0.0}, {8, -1, 0.125, -0.0});
    unary_case([](const Expr& x) { return pow(x, 0.5); }, {4, 9, 0, inf}, {2, 3, 0, inf}, 0.1, 4);
    Graph g;
    CHECK_ERROR(pow(g.placeholder("a", {2}), INFINITY), "exponent inf is not finite");
}

namespace {

// Hand values on a broadcast (2, 3) op (3,), then edge values, the empty tensor, the
// reference check on several broadcasting patterns (batched and not, with edge values),
// and gradients broadcast both ways.
template <class F>
void binary_case(F f, const std::vector<double>& want, const std::vector<double>& edges,
                 const std::vector<double>& edge_want) {
    auto g = [&](Exprs e) { return f(e[0], e[1]); };
    const Tensor a = Tensor::from({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
    const Tensor b = Tensor::from({2.f, 2.f, -1.f});
    const Tensor out = eval(g, {a, b});
    CHECK(out.shape() == Shape{2, 3});
    check_values(out, want);
    // Edge values: edges holds pairs (a, b).
    const std::int64_t n = static_cast<std::int64_t>(edges.size() / 2);
    std::vector<double> ea, eb;
    for (std::int64_t i = 0; i < n; ++i) {
        ea.push_back(edges[static_cast<std::size_t>(2 * i)]);
        eb.push_back(edges[static_cast<std::size_t>(2 * i + 1)]);
    }
    check_values(eval(g, {Tensor::from<double>(ea, Shape{n}), Tensor::from<double>(eb, Shape{n})}), edge_want, 1e-14);
    CHECK(eval(g, {Tensor::zeros({0, 3}), Tensor::zeros({3})}).shape() == Shape{0, 3});
    agrees_with_reference(g, {{Shape{batch, 33}}, {Shape{batch, 33}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{batch, 33}}, {Shape{33}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{batch, 1}}, {Shape{1, 40}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{4, 1, 5}, DType::f64}, {Shape{3, 1}, DType::f64, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{}}, {Shape{batch, 7}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{30, 33}, DType::f32, 0, 0, 4}, {Shape{33}, DType::f32, 0, 0, 4}}, 0);
    check_op_gradients(g, {{Shape{3, 4}}, {Shape{4}, DType::f64, 0.5, 2}});
    check_op_gradients(g, {{Shape{3, 1}}, {Shape{1, 4}, DType::f64, 0.5, 2}});
}

}  // namespace

template <> void op_case<ops::Add>() {
    binary_case([](const Expr& a, const Expr& b) { return a + b; }, {3, 4, 2, 6, 7, 5}, {inf, -inf, -0.0, -0.0, 1, nan},
                {nan, -0.0, nan});
    CHECK(values(eval([](Exprs e) { return e[0] + 1.f; }, {Tensor::from({1.f, 2.f})})) == std::vector<double>{2, 3});
    CHECK(values(eval([](Exprs e) { return 1 + e[0]; }, {Tensor::from({1.0, 2.0})})) == std::vector<double>{2, 3});
    const Expr p = Graph().placeholder("p", {2});
    CHECK(add(p, p).node().op_name() == "add");
}
template <> void op_case<ops::Sub>() {
    binary_case([](const Expr& a, const Expr& b) { return a - b; }, {-1, 0, 4, 2, 3, 7}, {inf, inf, 0, -0.0, 1, nan},
                {nan, 0, nan});
    CHECK(values(eval([](Exprs e) { return 1.f - e[0]; }, {Tensor::from({1.f, 3.f})})) == std::vector<double>{0, -2});
}
template <> void op_case<ops::Mul>() {
    binary_case([](const Expr& a, const Expr& b) { return a * b; }, {2, 4, -3, 8, 10, -6}, {inf, 0, -0.0, 3, 1, nan},
                {nan, -0.0, nan});
    CHECK(values(eval([](Exprs e) { return e[0] * 2.f; }, {Tensor::from({1.5f})})) == std::vector<double>{3});
}
template <> void op_case<ops::Div>() {
    binary_case([](const Expr& a, const Expr& b) { return a / b; }, {0.5, 1, -3, 2, 2.5, -6}, {1, 0, 0, 0, 1, -inf},
                {inf, nan, -0.0});
    CHECK(values(eval([](Exprs e) { return 1.f / e[0]; }, {Tensor::from({4.f})})) == std::vector<double>{0.25});
}
template <> void op_case<ops::Maximum>() {
    // NaN in either input gives NaN, as in numpy.
    binary_case([](const Expr& a, const Expr& b) { return maximum(a, b); }, {2, 2, 3, 4, 5, 6},
                {nan, 1, 1, nan, -inf, 0}, {nan, nan, 0});
}
template <> void op_case<ops::Minimum>() {
    binary_case([](const Expr& a, const Expr& b) { return minimum(a, b); }, {1, 2, -1, 2, 2, -1},
                {nan, 1, 1, nan, inf, 0}, {nan, nan, 0});
}
template <> void op_case<ops::Equal>() {
    const Tensor out =
        eval([](Exprs e) { return equal(e[0], e[1]); },
             {Tensor::from<std::int32_t>({{1, 2, 3}, {3, 2, 1}}), Tensor::from<std::int32_t>({3, 2, 1})});
    CHECK(out.dtype() == DType::u8);
    CHECK(values(out) == std::vector<double>{0, 1, 0, 1, 1, 1});
    // NaN equals nothing, -0 equals 0.
    CHECK(values(eval([](Exprs e) { return equal(e[0], e[1]); },
                      {Tensor::from({NAN, -0.f, 1.f}), Tensor::from({NAN, 0.f, 2.f})})) ==
          std::vector<double>{0, 1, 0});
    auto g = [](Exprs e) { return equal(e[0], e[1]); };
    agrees_with_reference(g, {{Shape{batch, 10}, DType::i32, 0, 3}, {Shape{batch, 10}, DType::i32, 0, 3}}, 0);
    agrees_with_reference(g, {{Shape{batch, 10}, DType::u8, 0, 3}, {Shape{10}, DType::u8, 0, 3}}, 0);
    agrees_with_reference(g, {{Shape{20, 10}, DType::f32, 0, 0, 3}, {Shape{10}, DType::f32, 0, 0, 3}}, 0);
    check_no_gradient(g, {{Shape{3, 4}}, {Shape{3, 4}}});
}

template <> void op_case<ops::Mask>() {
    const Tensor out = eval([](Exprs e) { return mask(e[0], e[1]); },
                            {Tensor::from({5.f, 6.f, 7.f, 8.f, INFINITY}), Tensor::from({-1.f, 0.f, 2.f, NAN, -1.f})});
    CHECK(values(out) == std::vector<double>{0, 0, 7, 0, 0});  // 0 at the kink and for NaN, never 0 * inf
    agrees_with_reference([](Exprs e) { return mask(e[0], e[1]); }, {{Shape{batch, 20}}, {Shape{batch, 20}}}, 0);
    agrees_with_reference([](Exprs e) { return mask(e[0], e[1]); },
                          {{Shape{10, 20}, DType::f32, 0, 0, 4}, {Shape{10, 20}, DType::f32, 0, 0, 4}}, 0);
    check_op_gradients([](Exprs e) { return mask(e[0], e[1]); }, {{Shape{3, 4}}, {Shape{3, 4}}});
    // It is what relu's rule emits.
    Graph g;
    const Expr x = g.placeholder("x", {2});
    const Expr d = gradients(sum(relu(x)), {x})[0];
    CHECK(d.node().op_name() == "mask");
}

namespace {

// A comparison: hand values (NaN compares false, except in not_equal; -0 is 0), on f32,
// broadcast, and on i32 and u8; the reference; no gradient.
template <class F> void compare_case(F f, const std::vector<double>& want_f32, const std::vector<double>& want_int) {
    auto g = [&](Exprs e) { return f(e[0], e[1]); };
    const Tensor out = eval(g, {Tensor::from({{1.f, 2.f, NAN}, {-0.f, 5.f, INFINITY}}), Tensor::from({2.f, 2.f, 1.f})});
    CHECK(out.dtype() == DType::u8);
    CHECK(values(out) == want_f32);
    // Zero against -0, in the first row: equal.
    CHECK(values(eval(g, {Tensor::from({0.f}), Tensor::from({-0.f})})) ==
          std::vector<double>{values(eval(g, {Tensor::from({1.f}), Tensor::from({1.f})}))});
    CHECK(values(eval(g, {Tensor::from<std::int32_t>({-3, 7, 7}), Tensor::from<std::int32_t>({7, 7, -3})})) ==
          want_int);
    CHECK(values(eval(g, {Tensor::from<std::uint8_t>({0, 255, 255}), Tensor::from<std::uint8_t>({255, 255, 0})})) ==
          want_int);
    agrees_with_reference(g, {{Shape{batch, 10}, DType::i32, 0, 3}, {Shape{batch, 10}, DType::i32, 0, 3}}, 0);
    agrees_with_reference(g, {{Shape{20, 10}, DType::f32, 0, 0, 3}, {Shape{10}, DType::f32, 0, 0, 3}}, 0);
    check_no_gradient(g, {{Shape{3, 4}}, {Shape{3, 4}}});
}

}  // namespace

// (1, 2, NaN; -0, 5, inf) against (2, 2, 1) broadcast; (-3, 7, 7) against (7, 7, -3).
template <> void op_case<ops::NotEqual>() {
    compare_case([](const Expr& a, const Expr& b) { return not_equal(a, b); }, {1, 0, 1, 1, 1, 1}, {1, 0, 1});
}
template <> void op_case<ops::Greater>() {
    compare_case([](const Expr& a, const Expr& b) { return greater(a, b); }, {0, 0, 0, 0, 1, 1}, {0, 0, 1});
}
template <> void op_case<ops::GreaterEqual>() {
    compare_case([](const Expr& a, const Expr& b) { return greater_equal(a, b); }, {0, 1, 0, 0, 1, 1}, {0, 1, 1});
}
template <> void op_case<ops::Less>() {
    compare_case([](const Expr& a, const Expr& b) { return less(a, b); }, {1, 0, 0, 1, 0, 0}, {1, 0, 0});
}
template <> void op_case<ops::LessEqual>() {
    compare_case([](const Expr& a, const Expr& b) { return less_equal(a, b); }, {1, 1, 0, 1, 0, 0}, {1, 1, 0});
}

template <> void op_case<ops::Same>() {
    // Equal, or both NaN; -0 is 0.
    CHECK(values(eval([](Exprs e) { return same(e[0], e[1]); },
                      {Tensor::from({NAN, NAN, -0.f, 1.f, INFINITY}), Tensor::from({NAN, 1.f, 0.f, 2.f, INFINITY})})) ==
          std::vector<double>{1, 0, 1, 0, 1});
    CHECK(values(eval([](Exprs e) { return same(e[0], e[1]); },
                      {Tensor::from<std::int32_t>({1, 2}), Tensor::from<std::int32_t>({1, 3})})) ==
          std::vector<double>{1, 0});
    auto g = [](Exprs e) { return same(e[0], e[1]); };
    agrees_with_reference(g, {{Shape{20, 10}, DType::f32, 0, 0, 3}, {Shape{10}, DType::f32, 0, 0, 3}}, 0);
    agrees_with_reference(g, {{Shape{batch, 10}, DType::i32, 0, 3}, {Shape{batch, 10}, DType::i32, 0, 3}}, 0);
    check_no_gradient(g, {{Shape{3, 4}}, {Shape{3, 4}}});
}

}  // namespace adjoint::test

namespace adjoint::test {

template <> void op_case<ops::Where>() {
    // Bit for bit from the side chosen: a NaN's payload, -0.0.
    const float payload = std::bit_cast<float>(0x7fc12345u);
    const Tensor c = Tensor::from<std::uint8_t>({{1, 0, 1}, {0, 1, 0}});
    const Tensor a = Tensor::from({{1.f, 2.f, payload}, {4.f, -0.f, 6.f}});
    const Tensor b = Tensor::from({-1.f, -2.f, -3.f});  // broadcast
    const Tensor out = eval([](Exprs e) { return where(e[0], e[1], e[2]); }, {c, a, b});
    CHECK(out.shape() == Shape{2, 3});
    const auto v = out.data<float>();
    CHECK(v[0] == 1.f);
    CHECK(v[1] == -2.f);
    CHECK(std::bit_cast<std::uint32_t>(v[2]) == 0x7fc12345u);
    CHECK(v[3] == -1.f);
    CHECK(std::signbit(v[4]));
    CHECK(v[5] == -3.f);
    // A scalar side, a broadcast condition, integers.
    CHECK(values(eval([](Exprs e) { return where(e[0], e[1], 7.0); },
                      {Tensor::from<std::uint8_t>({1, 0}), Tensor::from<std::int32_t>({{1, 2}, {3, 4}})})) ==
          std::vector<double>{1, 7, 3, 7});
    CHECK(eval([](Exprs e) { return where(e[0], e[1], e[2]); },
               {Tensor::zeros({0}, DType::u8), Tensor::zeros({0}), Tensor::zeros({0})})
              .shape() == Shape{0});
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    CHECK_ERROR(where(x, x, x), "the condition has dtype f32; it must be u8");
    CHECK_ERROR(where(greater(x, x), x, cast(x, DType::f64)), "dtypes f32 and f64 differ");
    CHECK_ERROR(where(greater(x, x), x, g.placeholder("y", {4})), "where on");
    // The reference, with edge values, a single-element side or not (broadcast shapes go
    // through broadcast_to first, tested above).
    auto f = [](Exprs e) { return where(e[0], e[1], e[2]); };
    agrees_with_reference(
        f,
        {{Shape{batch, 37}, DType::u8, 0, 2}, {Shape{batch, 37}, DType::f32, -3, 3, 4}, {Shape{}, DType::f32, -3, 3}});
    agrees_with_reference(f, {{Shape{5, 3}, DType::u8, 0, 2}, {Shape{}, DType::f64, -3, 3}, {Shape{5, 3}, DType::f64}},
                          0);
    // Gradients of both sides, to second order, with a fixed condition.
    check_op_gradients(
        [](Exprs e) {
            const Expr cond =
                e[0].graph().constant(Tensor::from<std::uint8_t>({{1, 0, 0, 1}, {0, 1, 1, 0}, {1, 1, 0, 0}}));
            return where(cond, e[0] * e[0], e[1]);
        },
        {{Shape{3, 4}}, {Shape{3, 4}}});
}

TEST_CASE("sigmoid_cross_entropy: exact, finite at +-1e4, gradient sigmoid(z) - t") {
    auto f = [](Exprs e) { return sigmoid_cross_entropy(e[0], e[1]); };
    const std::vector<double> z = {0, 3, -3, 1e4, -1e4, 30, -30}, t = {1, 0, 1, 1, 1, 0.3, 0.3};
    std::vector<double> want;
    for (std::size_t i = 0; i < z.size(); ++i) {
        // -t log(p) - (1 - t) log(1 - p), with log(p) = -log1p(exp(-z)) and log(1 - p) = -z + log(p).
        const long double zl = z[i], log_p = zl > 0 ? -std::log1p(std::exp(-zl)) : zl - std::log1p(std::exp(zl));
        want.push_back(static_cast<double>(-t[i] * log_p - (1 - t[i]) * (log_p - zl)));
    }
    const Shape n{static_cast<std::int64_t>(z.size())};
    const Tensor got = eval(f, {Tensor::from<double>(z, n), Tensor::from<double>(t, n)});
    check_values(got, want, 1e-13);
    check_values(eval(f, {Tensor::from<float>(std::vector<float>(z.begin(), z.end()), n),
                          Tensor::from<float>(std::vector<float>(t.begin(), t.end()), n)}),
                 want, 1e-6);
    check_op_gradients(f, {{Shape{3, 4}, DType::f64, -4, 4}, {Shape{3, 4}, DType::f64, 0, 1}});
    // d/dz = sigmoid(z) - t, finite at the far ends.
    const Tensor dz = eval([](Exprs e) { return gradients(sum(sigmoid_cross_entropy(e[0], e[1])), {e[0]})[0]; },
                           {Tensor::from({0.f, 1e4f, -1e4f}), Tensor::from({1.f, 0.f, 1.f})});
    check_values(dz, {-0.5, 1, -1});
}

TEST_CASE("leaky_relu and elu: values, NaN, gradients finite in the branch not taken") {
    auto lr = [](Exprs e) { return leaky_relu(e[0], 0.1); };
    auto el = [](Exprs e) { return elu(e[0], 2.0); };
    check_values(eval(lr, {Tensor::from({-2.f, 0.f, 3.f, -INFINITY, INFINITY})}), {-0.2, 0, 3, -inf, inf});
    check_values(eval(el, {Tensor::from({-2.f, 0.f, 3.f, -INFINITY, 1000.f})}), {2 * std::expm1(-2.0), 0, 3, -2, 1000});
    CHECK(std::isnan(eval(lr, {Tensor::from({NAN})}).item<float>()));
    CHECK(std::isnan(eval(el, {Tensor::from({NAN})}).item<float>()));
    check_op_gradients(lr, {{Shape{3, 4}}});
    check_op_gradients(el, {{Shape{3, 4}}});
    // At 1000 e^x overflows, but only in the branch not taken, which never sees it.
    const Tensor d =
        eval([](Exprs e) { return gradients(sum(elu(e[0], 2.0)), {e[0]})[0]; }, {Tensor::from({1000.f, -1.f, 0.f})});
    check_values(d, {1, 2 * std::exp(-1.0), 2});
    const Tensor dl = eval([](Exprs e) { return gradients(sum(leaky_relu(e[0], 0.1)), {e[0]})[0]; },
                           {Tensor::from({5.f, -1.f, 0.f})});
    check_values(dl, {1, 0.1, 0.1});
    Graph g;
    CHECK_ERROR(elu(g.placeholder("x", {2}), NAN), "elu: alpha nan is not finite");
    CHECK(Activation("elu").name() == "elu");
    CHECK(Activation("leaky_relu").name() == "leaky_relu");
}

TEST_CASE("clip: min(max(x, lo), hi), NaN stays NaN, the gradient flows inside") {
    auto f = [](Exprs e) { return clip(e[0], -1, 2); };
    CHECK(values(eval(f, {Tensor::from({-5.f, -1.f, 0.5f, 2.f, 9.f, -INFINITY, INFINITY})})) ==
          std::vector<double>{-1, -1, 0.5, 2, 2, -1, 2});
    CHECK(std::isnan(eval(f, {Tensor::from({NAN})}).item<float>()));
    check_op_gradients(f, {{Shape{3, 4}, DType::f64, -0.9, 1.9}});
    Graph g;
    const Expr x = g.placeholder("x", {2});
    CHECK_ERROR(clip(x, 2, 1), "the bounds [2, 1] are not an interval");
    CHECK_ERROR(clip(x, NAN, 1), "are not an interval");
    const Tensor grad =
        eval([](Exprs e) { return gradients(sum(clip(e[0], -1, 2)), {e[0]})[0]; }, {Tensor::from({-5.f, 0.5f, 9.f})});
    CHECK(values(grad) == std::vector<double>{0, 1, 0});
}

TEST_CASE("element-wise loops cut the MNIST network's activations into chunks for 16 threads") {
    // The hidden activations (128 x 512) and the first kernel's update (784 x 512): at
    // least 16 chunks each, where the grain of 16384 gave 4 for the activations.
    for (const std::int64_t n : {std::int64_t{128} * 512, std::int64_t{784} * 512}) {
        std::atomic<std::int64_t> chunks{0}, covered{0};
        parallel_chunks(n, elementwise_grain, [&](std::int64_t b, std::int64_t e) {
            ++chunks;
            covered += e - b;
        });
        CAPTURE(n);
        CHECK(chunks >= 16);
        CHECK(covered == n);
    }
    // The chunks change no bit: an element-wise op on arenas of 1, 2 and 16 threads.
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 16);
    const Tensor x = random_tensor({128, 512}, DType::f32, -3, 3, 17);
    std::vector<Tensor> got;
    for (int threads : {1, 2, 16})
        tbb::task_arena(threads).execute([&] { got.push_back(eval([](Exprs e) { return gelu(e[0]) * 2.f; }, {x})); });
    CHECK(bitwise_equal(got[0], got[1]));
    CHECK(bitwise_equal(got[0], got[2]));
}

}  // namespace adjoint::test
