// Element-wise ops, one and two inputs, with broadcasting.
#include <cmath>

#include "op_cases.hpp"

namespace adjoint::test {

namespace {

using Exprs = std::span<const Expr>;

// Hand values for f on a few points, plus the reference check on (batch, 37).
template <class F> void unary_case(F f, std::vector<float> x, std::vector<float> want, double lo = -3, double hi = 3) {
    const Tensor in = Tensor::from<float>(x, Shape{static_cast<std::int64_t>(x.size())});
    const Tensor out = eval([&](Exprs e) { return f(e[0]); }, {in});
    const Tensor expected = Tensor::from<float>(want, Shape{static_cast<std::int64_t>(want.size())});
    CHECK(max_rel_diff(out, expected) <= 1e-6);
    agrees_with_reference([&](Exprs e) { return f(e[0]); }, {{Shape{batch, 37}, DType::f32, lo, hi}});
    agrees_with_reference([&](Exprs e) { return f(e[0]); }, {{Shape{5, 3}, DType::f64, lo, hi}}, 1e-15);
    // Gradients away from 0, where log, sqrt and fractional powers have their pole.
    check_op_gradients([&](Exprs e) { return f(e[0]); }, {{Shape{3, 4}, DType::f64, lo < 0 ? lo : std::max(lo, 0.2), hi}});
}

}  // namespace

template <> void op_case<ops::Neg>() { unary_case([](Expr x) { return -x; }, {1, -2, 0}, {-1, 2, -0.f}); }
template <> void op_case<ops::Exp>() {
    unary_case([](Expr x) { return exp(x); }, {0, 1, -1}, {1, std::exp(1.f), std::exp(-1.f)});
}
template <> void op_case<ops::Log>() {
    unary_case([](Expr x) { return log(x); }, {1, std::exp(2.f), 0.5f}, {0, 2, std::log(0.5f)}, 0.01, 5);
}
template <> void op_case<ops::Sqrt>() { unary_case([](Expr x) { return sqrt(x); }, {4, 0, 2.25f}, {2, 0, 1.5f}, 0, 5); }
template <> void op_case<ops::Square>() { unary_case([](Expr x) { return square(x); }, {3, -2, 0.5f}, {9, 4, 0.25f}); }
template <> void op_case<ops::Relu>() {
    unary_case([](Expr x) { return relu(x); }, {-1, 0, 2.5f}, {0, 0, 2.5f});
    // NaN passes through, as in PyTorch.
    const Tensor out = eval([](Exprs e) { return relu(e[0]); }, {Tensor::from({NAN})});
    CHECK(std::isnan(out.data<float>()[0]));
}
template <> void op_case<ops::Sigmoid>() {
    unary_case([](Expr x) { return sigmoid(x); }, {0, 100, -100}, {0.5f, 1, 0});
    // Far tails stay finite.
    const Tensor out = eval([](Exprs e) { return sigmoid(e[0]); }, {Tensor::from({-1000.f, 1000.f})});
    CHECK(out.data<float>()[0] == 0.f);
    CHECK(out.data<float>()[1] == 1.f);
}
template <> void op_case<ops::Tanh>() {
    unary_case([](Expr x) { return tanh(x); }, {0, 1, -20}, {0, std::tanh(1.f), -1});
}
template <> void op_case<ops::Pow>() {
    unary_case([](Expr x) { return pow(x, 3); }, {2, -1, 0.5f}, {8, -1, 0.125f});
    unary_case([](Expr x) { return pow(x, 0.5); }, {4, 9, 0}, {2, 3, 0}, 0, 4);
}

namespace {

// Hand values on a broadcast (2, 3) op (3,), then the reference check on several
// broadcasting patterns, batched and not.
template <class F> void binary_case(F f, std::vector<float> want) {
    const Tensor a = Tensor::from({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
    const Tensor b = Tensor::from({2.f, 2.f, -1.f});
    const Tensor out = eval([&](Exprs e) { return f(e[0], e[1]); }, {a, b});
    CHECK(out.shape() == Shape{2, 3});
    CHECK(max_rel_diff(out, Tensor::from<float>(want, Shape{2, 3})) <= 1e-6);
    auto g = [&](Exprs e) { return f(e[0], e[1]); };
    agrees_with_reference(g, {{Shape{batch, 33}}, {Shape{batch, 33}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{batch, 33}}, {Shape{33}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{batch, 1}}, {Shape{1, 40}, DType::f32, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{4, 1, 5}, DType::f64}, {Shape{3, 1}, DType::f64, 0.5, 2}}, 0);
    agrees_with_reference(g, {{Shape{}}, {Shape{batch, 7}, DType::f32, 0.5, 2}}, 0);
    // Gradients, broadcast both ways (summed back to each input's shape by the pass).
    check_op_gradients(g, {{Shape{3, 4}}, {Shape{4}, DType::f64, 0.5, 2}});
    check_op_gradients(g, {{Shape{3, 1}}, {Shape{1, 4}, DType::f64, 0.5, 2}});
}

}  // namespace

template <> void op_case<ops::Add>() {
    binary_case([](Expr a, Expr b) { return a + b; }, {3, 4, 2, 6, 7, 5});
    CHECK(values(eval([](Exprs e) { return e[0] + 1.f; }, {Tensor::from({1.f, 2.f})})) == std::vector<double>{2, 3});
    CHECK(values(eval([](Exprs e) { return 1 + e[0]; }, {Tensor::from({1.0, 2.0})})) == std::vector<double>{2, 3});
}
template <> void op_case<ops::Sub>() {
    binary_case([](Expr a, Expr b) { return a - b; }, {-1, 0, 4, 2, 3, 7});
    CHECK(values(eval([](Exprs e) { return 1.f - e[0]; }, {Tensor::from({1.f, 3.f})})) == std::vector<double>{0, -2});
}
template <> void op_case<ops::Mul>() {
    binary_case([](Expr a, Expr b) { return a * b; }, {2, 4, -3, 8, 10, -6});
    CHECK(values(eval([](Exprs e) { return e[0] * 2.f; }, {Tensor::from({1.5f})})) == std::vector<double>{3});
}
template <> void op_case<ops::Div>() {
    binary_case([](Expr a, Expr b) { return a / b; }, {0.5f, 1, -3, 2, 2.5f, -6});
    CHECK(values(eval([](Exprs e) { return 1.f / e[0]; }, {Tensor::from({4.f})})) == std::vector<double>{0.25});
}
template <> void op_case<ops::Maximum>() {
    binary_case([](Expr a, Expr b) { return maximum(a, b); }, {2, 2, 3, 4, 5, 6});
}
template <> void op_case<ops::Minimum>() {
    binary_case([](Expr a, Expr b) { return minimum(a, b); }, {1, 2, -1, 2, 2, -1});
}
template <> void op_case<ops::Equal>() {
    const Tensor out = eval([](Exprs e) { return equal(e[0], e[1]); },
                            {Tensor::from<std::int32_t>({{1, 2, 3}, {3, 2, 1}}), Tensor::from<std::int32_t>({3, 2, 1})});
    CHECK(out.dtype() == DType::u8);
    CHECK(values(out) == std::vector<double>{0, 1, 0, 1, 1, 1});
    auto g = [](Exprs e) { return equal(e[0], e[1]); };
    agrees_with_reference(g, {{Shape{batch, 10}, DType::i32, 0, 3}, {Shape{batch, 10}, DType::i32, 0, 3}}, 0);
    agrees_with_reference(g, {{Shape{batch, 10}, DType::u8, 0, 3}, {Shape{10}, DType::u8, 0, 3}}, 0);
    check_no_gradient(g, {{Shape{3, 4}}, {Shape{3, 4}}});
}

template <> void op_case<ops::ReluGrad>() {
    const Tensor out = eval([](Exprs e) { return relu_grad(e[0], e[1]); },
                            {Tensor::from({5.f, 6.f, 7.f}), Tensor::from({-1.f, 0.f, 2.f})});
    CHECK(values(out) == std::vector<double>{0, 0, 7});  // 0 at the kink
    agrees_with_reference([](Exprs e) { return relu_grad(e[0], e[1]); }, {{Shape{batch, 20}}, {Shape{batch, 20}}}, 0);
    check_op_gradients([](Exprs e) { return relu_grad(e[0], e[1]); }, {{Shape{3, 4}}, {Shape{3, 4}}});
    // It is what relu's rule emits.
    Graph g;
    const Expr x = g.placeholder("x", {2});
    const Expr d = gradients(sum(relu(x)), {x})[0];
    CHECK(d.node().op_name() == "relu_grad");
}

}  // namespace adjoint::test
