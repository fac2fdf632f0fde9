// Optimizer update rules against steps computed by hand (in double, as the formulas say).
#include <algorithm>
#include <cmath>

#include "../helpers.hpp"

namespace adjoint::test {

namespace {

// w starts at w0; loss = sum(w * c), so the gradient is c every step. Returns w after
// each of `steps` training runs.
std::vector<std::vector<double>> train(const Optimizer& opt, std::vector<float> w0, std::vector<float> c, int steps) {
    Graph g;
    const Expr w = g.variable("w", Tensor::from<float>(w0, Shape{static_cast<std::int64_t>(w0.size())}));
    const Expr k = g.constant(Tensor::from<float>(c, Shape{static_cast<std::int64_t>(c.size())}));
    const Expr loss = sum(w * k);
    const std::vector<Expr> updates = opt.apply(g, {w}, gradients(loss, {w}));
    Session sess(g);
    std::vector<std::vector<double>> out;
    for (int s = 0; s < steps; ++s) {
        sess.run(updates);  // one step = one run
        out.push_back(values(sess.value(w)));
    }
    return out;
}

void close(const std::vector<double>& got, const std::vector<double>& want) {
    CHECK(got.size() == want.size());
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i)
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
}

}  // namespace

TEST_CASE("SGD: w = w - lr g") {
    const auto w = train(SGD(0.1), {1, 2}, {0.5, -1}, 2);
    close(w[0], {0.95, 2.1});
    close(w[1], {0.9, 2.2});
}

TEST_CASE("SGD with momentum and Nesterov, as Keras") {
    // v = 0.9 v - lr g; w = w + v
    const auto m = train(SGD(0.1, 0.9), {1}, {2}, 3);
    double v = 0, w = 1;
    for (int s = 0; s < 3; ++s) {
        v = 0.9 * v - 0.1 * 2;
        w = w + v;
        close(m[static_cast<std::size_t>(s)], {w});
    }
    // nesterov: w = w + momentum v_new - lr g
    const auto n = train(SGD(0.1, 0.9, true), {1}, {2}, 3);
    v = 0, w = 1;
    for (int s = 0; s < 3; ++s) {
        v = 0.9 * v - 0.1 * 2;
        w = w + 0.9 * v - 0.1 * 2;
        close(n[static_cast<std::size_t>(s)], {w});
    }
}

TEST_CASE("RMSprop: a = rho a + (1 - rho) g^2; w = w - lr g / (sqrt(a) + eps)") {
    const auto r = train(RMSprop(), {1, -1}, {0.5, -2}, 3);
    std::vector<double> a{0, 0}, w{1, -1};
    const double g[] = {0.5, -2};
    for (int s = 0; s < 3; ++s) {
        for (int i = 0; i < 2; ++i) {
            a[i] = 0.9 * a[i] + 0.1 * g[i] * g[i];
            w[i] = w[i] - 1e-3 * g[i] / (std::sqrt(a[i]) + 1e-7);
        }
        close(r[static_cast<std::size_t>(s)], w);
    }
    // First step of RMSprop moves by lr / sqrt(0.1) whatever the gradient's size.
    CHECK(r[0][0] == doctest::Approx(1 - 1e-3 / std::sqrt(0.1)).epsilon(1e-6));
}

TEST_CASE("Adam: bias-corrected moments, as Keras") {
    const auto r = train(Adam(0.01), {1}, {3}, 4);
    double m = 0, v = 0, w = 1;
    for (int t = 1; t <= 4; ++t) {
        m = 0.9 * m + 0.1 * 3;
        v = 0.999 * v + 0.001 * 9;
        const double lr_t = 0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
        w = w - lr_t * m / (std::sqrt(v) + 1e-7);
        close(r[static_cast<std::size_t>(t - 1)], {w});
    }
}

TEST_CASE("optimizers: bad hyperparameters are refused with the value") {
    CHECK_ERROR(SGD(-1), "SGD: learning rate is -1");
    CHECK_ERROR(SGD(0.1, 1.5), "momentum is 1.5");
    CHECK_ERROR(RMSprop(NAN), "learning rate is nan");
    CHECK_ERROR(RMSprop(1e-3, 1.0), "rho is 1");
    CHECK_ERROR(Adam(1e-3, 0.9, 2), "beta_2 is 2");
    CHECK_ERROR(make_optimizer("adagrad"), "unknown optimizer \"adagrad\"");
    CHECK(make_optimizer("momentum")->name() == "SGD(lr=0.01, momentum=0.9)");
    CHECK(make_optimizer("rmsprop", 0.5)->name() == "RMSprop(lr=0.5, rho=0.9, epsilon=1e-07)");
}

}  // namespace adjoint::test
