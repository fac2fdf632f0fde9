// tensor_stats, all_finite, and SessionOptions::check_numerics: the first node that makes
// NaN or infinity is named, whatever the thread count, and no variable changes.

#include <cfloat>
#include <cmath>

#include <tbb/global_control.h>

#include <adjoint/core/numerics.hpp>

#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("Numerics: tensor_stats counts and summarises") {
    const Tensor t = Tensor::from({1.f, -2.f, NAN, INFINITY, -INFINITY, 3.f, -INFINITY});
    const TensorStats s = tensor_stats(t);
    CHECK(s.count == 7);
    CHECK(s.nan == 1);
    CHECK(s.pos_inf == 1);
    CHECK(s.neg_inf == 2);
    CHECK(s.min == -2);
    CHECK(s.max == 3);
    CHECK(s.mean == doctest::Approx(2.0 / 3));
    CHECK(s.l2 == doctest::Approx(std::sqrt(14.0)));
    REQUIRE(s.first_non_finite);
    CHECK(*s.first_non_finite == 2);
    CHECK(!s.finite());
    CHECK(to_string(s) == "min -2, max 3, mean 0.666667, L2 3.74166, 1 NaN, 1 +inf, 2 -inf (the first at index 2)");
    const TensorStats all_bad = tensor_stats(Tensor::from({NAN, NAN}));
    CHECK(std::isnan(all_bad.min));
    CHECK(all_bad.nan == 2);
    const TensorStats ints = tensor_stats(Tensor::from<std::int32_t>({-5, 7}));
    CHECK(ints.finite());
    CHECK(ints.min == -5);
    CHECK(ints.max == 7);
}

TEST_CASE("Numerics: all_finite finds one bad element anywhere, in f32 and f64") {
    for (const std::int64_t n : {1, 7, 8, 9, 33, 1000, 4099}) {
        for (const double bad : {double(NAN), double(INFINITY), -double(INFINITY)}) {
            for (std::int64_t at : {std::int64_t{0}, n / 2, n - 1}) {
                Tensor f(Shape{n}, DType::f32), d(Shape{n}, DType::f64);
                for (std::int64_t i = 0; i < n; ++i) {
                    // finite edge values: the largest, the smallest denormal, -0
                    const double v = i % 3 == 0 ? -0.0 : i % 3 == 1 ? FLT_MAX : FLT_TRUE_MIN;
                    f.data<float>()[i] = static_cast<float>(v);
                    d.data<double>()[i] = i % 3 == 1 ? DBL_MAX : v;
                }
                CHECK(all_finite(f));
                CHECK(all_finite(d));
                f.data<float>()[at] = static_cast<float>(bad);
                d.data<double>()[at] = bad;
                CHECK(!all_finite(f));
                CHECK(!all_finite(d));
            }
        }
    }
    CHECK(all_finite(Tensor::from<std::int32_t>({1, 2})));
    CHECK(all_finite(Tensor(Shape{0, 3}, DType::f32)));
}

namespace {

// x -> loss = sum(log(x * w)), with an SGD step on w: log(0) = -inf when x holds a 0.
struct LogNet {
    Graph g;
    Expr x = g.placeholder("x", {batch, 2});
    Expr w = g.variable("w", Tensor::from({1.f, 2.f}));
    Expr product = x * w;
    Expr logs = log(product);
    Expr loss = sum(logs);
    Expr step = sgd_apply(w, gradients(loss, {w})[0], 0.1);
};

}  // namespace

TEST_CASE("Numerics: check_numerics names the first forward node that makes -inf, and no variable changes") {
    LogNet net;
    const Tensor bad = Tensor::from({{1.f, 0.f}, {2.f, 3.f}});
    // Without the check, the run goes through and the step writes w.
    {
        Session plain(net.g);
        (void)plain.run({net.loss}, {{net.x, bad}}, {net.step});
        CHECK(!all_finite(plain.value(net.w)));
    }
    for (const int threads : {1, 2, 4}) {
        tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
        Session sess(net.g, {.threads = threads, .check_numerics = true});
        const Tensor before = sess.value(net.w);
        const std::string log_node = fmt::format("check_numerics: node {} \"log\" (log, built at", net.logs.id());
        CHECK_ERROR(sess.run({net.loss}, {{net.x, bad}}, {net.step}), log_node.c_str(), "test_numerics.cpp",
                    "a forward node", "its output f32 (2, 2): min 0, max 1.79176", "0 NaN, 0 +inf, 1 -inf",
                    "input 0 \"mul\" (mul) f32 (2, 2): min 0, max 6", "No variable was changed");
        CHECK(values(sess.value(net.w)) == values(before));
        // A good batch then trains as usual.
        (void)sess.run({net.loss}, {{net.x, Tensor::from({{1.f, 1.f}})}}, {net.step});
        CHECK(values(sess.value(net.w)) != values(before));
    }
}

TEST_CASE("Numerics: a gradient node is named with its forward node and rule") {
    Graph g;
    const Expr x = g.placeholder("x", {2});
    const Expr w = g.variable("w", Tensor::from({0.f, 4.f}));
    const Expr r = sqrt(w * x);  // sqrt(0) = 0, finite; its gradient 1 / (2 sqrt(0)) is +inf
    const Expr loss = sum(r);
    const int grad_line = __LINE__ + 1;
    const Expr grad = gradients(loss, {w})[0];
    const Expr step = sgd_apply(w, grad, 0.1);
    Session sess(g, {.check_numerics = true});
    const std::string role = fmt::format("a gradient node: the gradient of node {} \"sqrt\" by the sqrt rule", r.id());
    // built where gradients() was called
    const std::string built = fmt::format("test_numerics.cpp:{}; a gradient node", grad_line);
    CHECK_ERROR(sess.run({loss}, {{x, Tensor::from({1.f, 1.f})}}, {step}), role.c_str(), built.c_str(), "+inf",
                "No variable was changed");
    CHECK(values(sess.value(w)) == std::vector<double>{0, 4});
}

TEST_CASE("Numerics: an update that overflows is named with its variable, which keeps its value") {
    Graph g;
    const Expr w = g.variable("w", Tensor::from({1e30f, 1.f}));
    const Expr v = g.variable("v", Tensor::from({3.f}));
    const Expr loss = sum(square(w)) + sum(v);  // dloss/dw = 2w = 2e30, finite
    const auto grads = gradients(loss, {w, v});
    const Expr step_w = sgd_apply(w, grads[0], 1e10);  // 1e30 - 1e10 * 2e30 = -inf in f32
    const Expr step_v = sgd_apply(v, grads[1], 0.5);   // finite: but the run fails, so no change
    Session sess(g, {.check_numerics = true});
    CHECK_ERROR(sess.run({}, {}, {step_w, step_v}), "(sgd_apply, built at", "an update of variable \"w\"", "1 -inf",
                "No variable was changed");
    CHECK(values(sess.value(w)) == std::vector<double>{1e30f, 1});
    CHECK(values(sess.value(v)) == std::vector<double>{3});
}

TEST_CASE("Numerics: a value computed in place into its variable says so, and the variable keeps its value") {
    Graph g;
    const Expr w = g.variable("w", Tensor::from({1e30f, 1.f}));
    const Expr grown = w * 1e10f;  // the plan computes it straight into w, for the assign
    const Expr step = assign(w, grown);
    Session sess(g, {.check_numerics = true});
    const std::string role = fmt::format("node {} \"mul\" (mul, built at", grown.id());
    CHECK_ERROR(sess.run({}, {}, {step}), role.c_str(),
                "a forward node, computed in place into variable \"w\" (its input 0)",
                "input 0 \"w\" (variable) f32 (2,), as this step wrote it", "No variable was changed");
    CHECK(values(sess.value(w)) == std::vector<double>{1e30f, 1});
}

TEST_CASE("Numerics: of two branches that both make NaN, the first in plan order is named, on any thread count") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 64});
    Expr a = x, b = x;
    for (int i = 0; i < 8; ++i) {  // two independent chains; each makes NaN at its end
        a = tanh(a);
        b = sigmoid(b);
    }
    const Expr nan_a = sqrt(a - 2.f);  // sqrt of a negative: NaN
    const Expr nan_b = log(b - 2.f);
    const Expr out = sum(nan_a) + sum(nan_b);
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    const Tensor feed = Tensor::full({256, 64}, 0.5);
    std::string first;
    for (const int threads : {1, 2, 4})
        for (int run = 0; run < 10; ++run) {
            Session sess(g, {.threads = threads, .check_numerics = true});
            const std::string msg = error_of([&] { (void)sess.run({out}, {{x, feed}}); });
            if (first.empty()) first = msg;
            CHECK(msg == first);
        }
    CHECK(first.find(fmt::format("node {} \"sqrt\"", nan_a.id())) != std::string::npos);
}

}  // namespace adjoint::test
