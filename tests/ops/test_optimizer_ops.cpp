// The optimizers' fused updates: hand values, the fast kernel against the naive reference
// and bit for bit against the same formula as separate ops, what other nodes of the same
// run see, no gradient, and errors.
#include "op_cases.hpp"

namespace adjoint::test {

namespace {

// Variables for the update's written inputs (random values), a placeholder for the
// gradient, and extra constant inputs; runs build(written..., g, extra...) on 2 threads
// and checks every written variable against the naive reference kernel (long double,
// rounded once) on copies: within an ulp or two.
void update_agrees_with_reference(std::size_t written, const std::function<Expr(std::vector<Expr>)>& build,
                                  const std::vector<Tensor>& extra = {}, DType dtype = DType::f32) {
    const Shape shape{300, 70};  // several parallel chunks, the last one short
    Graph g;
    std::vector<Expr> in;
    std::vector<Tensor> start;
    for (std::size_t i = 0; i < written; ++i) {
        start.push_back(random_tensor(shape, dtype, i == 0 ? -1 : 0.01, 1, 10 + i));  // state >= 0
        in.push_back(g.variable(fmt::format("v{}", i), start.back()));
    }
    const Expr grad = g.placeholder("g", shape, dtype);
    const Tensor gv = random_tensor(shape, dtype, -1, 1, 99);
    in.push_back(grad);
    for (const Tensor& t : extra) in.push_back(g.constant(t));
    const Expr y = build(in);
    Session sess(g, {.threads = 2});
    const Tensor fast = sess.run({y}, {{grad, gv}})[0];

    std::vector<Tensor> copies;
    copies.reserve(start.size());
    for (const Tensor& t : start) copies.push_back(t.clone());
    std::vector<const Tensor*> ptrs;
    ptrs.reserve(copies.size() + 1 + extra.size());
    for (const Tensor& t : copies) ptrs.push_back(&t);
    ptrs.push_back(&gv);
    for (const Tensor& t : extra) ptrs.push_back(&t);
    Tensor ref(shape, dtype);
    y.node().op->reference(Inputs(ptrs), ref);
    const double tolerance = dtype == DType::f32 ? 1e-6 : 1e-14;
    CHECK(max_rel_diff(fast, ref) <= tolerance);
    CHECK(bitwise_equal(sess.value(in[0]), fast));
    for (std::size_t i = 1; i < written; ++i) CHECK(max_rel_diff(sess.value(in[i]), copies[i]) <= tolerance);
    // Something changed: the update is not a copy of its inputs.
    CHECK(!bitwise_equal(ref, start[0]));
}

// The fused update against the same formula as separate ops (unfused(written..., g,
// extra...) returns the new value of each written input), on inputs with NaN, +-inf, -0.0
// and denormals among them: the same bits for every written variable.
void update_matches_unfused(std::size_t written, const std::function<Expr(std::vector<Expr>)>& fused,
                            const std::function<std::vector<Expr>(std::vector<Expr>)>& unfused,
                            const std::vector<Tensor>& extra = {}, DType dtype = DType::f32) {
    const Shape shape{300, 70};
    Graph g;
    std::vector<Expr> in;
    for (std::size_t i = 0; i < written; ++i)
        in.push_back(g.variable(fmt::format("v{}", i), edge_tensor(shape, dtype, 20 + i)));
    const Expr grad = g.placeholder("g", shape, dtype);
    in.push_back(grad);
    for (const Tensor& t : extra) in.push_back(g.constant(t));
    const std::vector<Expr> plain = unfused(in);
    CHECK(plain.size() == written);
    if (plain.size() != written) return;
    Session sess(g, {.threads = 2});
    const Feeds feeds{{grad, edge_tensor(shape, dtype, 30)}};
    const std::vector<Tensor> want = sess.run(plain, feeds);  // before the update
    sess.run({}, feeds, {fused(in)});
    for (std::size_t i = 0; i < written; ++i) {
        CAPTURE(i);
        CHECK(same_bits_or_nan(sess.value(in[i]), want[i]));
    }
}

// No gradient flows through an update: d/dg of sum(update) is zero.
void no_gradient_through(const std::function<Expr(Graph&, const Expr&)>& build) {
    Graph g;
    const Expr grad = g.placeholder("g", {2});
    const Expr d = gradients(sum(build(g, grad)), {grad})[0];
    Session sess(g);
    CHECK(values(sess.run({d}, {{grad, Tensor::from({1.f, 2.f})}})[0]) == std::vector<double>{0, 0});
}

}  // namespace

template <> void op_case<ops::SGDApply>() {
    Graph g;
    const Expr w = g.variable("w", Tensor::from({1.0, 2.0}));
    const Expr grad = g.placeholder("g", {2}, DType::f64);
    const Expr up = sgd_apply(w, grad, 0.5);
    Session sess(g);
    CHECK(values(sess.run({up}, {{grad, Tensor::from({2.0, -4.0})}})[0]) == std::vector<double>{0, 4});
    CHECK(values(sess.value(w)) == std::vector<double>{0, 4});
    update_agrees_with_reference(1, [](std::vector<Expr> e) { return sgd_apply(e[0], e[1], 0.01); });
    update_matches_unfused(
        1, [](std::vector<Expr> e) { return sgd_apply(e[0], e[1], 0.01); },
        [](std::vector<Expr> e) { return std::vector<Expr>{e[0] - e[1] * 0.01}; });
    no_gradient_through(
        [](Graph& gr, const Expr& x) { return sgd_apply(gr.variable("w", Tensor::zeros({2})), x, 0.1); });
    CHECK_ERROR(sgd_apply(grad, grad, 0.1), "sgd_apply", "\"g\" is a placeholder, not a variable");
    CHECK_ERROR(sgd_apply(w, g.placeholder("h", {3}, DType::f64), 0.1), "input 1 is (3,), input 0 is (2,)");
}

template <> void op_case<ops::MomentumApply>() {
    for (bool nesterov : {false, true}) {
        CAPTURE(nesterov);
        Graph g;
        const Expr w = g.variable("w", Tensor::from({1.0}));
        const Expr v = g.variable("v", Tensor::from({0.5}));
        const Expr grad = g.placeholder("g", {1}, DType::f64);
        const Expr up = momentum_apply(w, v, grad, 0.1, 0.9, nesterov);
        Session sess(g);
        sess.run({}, {{grad, Tensor::from({2.0})}}, {up});
        const double v_new = 0.9 * 0.5 - 0.1 * 2;  // 0.25
        CHECK(sess.value(v).item<double>() == doctest::Approx(v_new).epsilon(1e-15));
        CHECK(sess.value(w).item<double>() ==
              doctest::Approx(nesterov ? 1 + 0.9 * v_new - 0.1 * 2 : 1 + v_new).epsilon(1e-15));
        update_agrees_with_reference(
            2, [=](std::vector<Expr> e) { return momentum_apply(e[0], e[1], e[2], 0.01, 0.9, nesterov); });
        update_matches_unfused(
            2, [=](std::vector<Expr> e) { return momentum_apply(e[0], e[1], e[2], 0.01, 0.9, nesterov); },
            [=](std::vector<Expr> e) {
                const Expr v = e[1] * 0.9 - e[2] * 0.01;
                return std::vector<Expr>{nesterov ? e[0] + v * 0.9 - e[2] * 0.01 : e[0] + v, v};
            });
    }
    no_gradient_through([](Graph& gr, const Expr& x) {
        return momentum_apply(gr.variable("w", Tensor::zeros({2})), gr.variable("v", Tensor::zeros({2})), x, 0.1, 0.9,
                              false);
    });
}

template <> void op_case<ops::RMSpropApply>() {
    Graph g;
    const Expr w = g.variable("w", Tensor::from({1.0, 1.0}));
    const Expr a = g.variable("a", Tensor::from({1.0, 4.0}));
    const Expr grad = g.placeholder("g", {2}, DType::f64);
    const Expr up = rmsprop_apply(w, a, grad, 0.1, 0.5, 0.0);
    // Another reader of the state in the same run sees its value from before the update.
    const Expr a_before = a * 1.0;
    Session sess(g);
    const auto r = sess.run({up, a_before}, {{grad, Tensor::from({3.0, 2.0})}});
    // a = 0.5 a + 0.5 g^2 = (5, 4);  w = 1 - 0.1 g / sqrt(a)
    CHECK(values(sess.value(a)) == std::vector<double>{5, 4});
    CHECK(values(r[0]) == std::vector<double>{1 - 0.1 * 3 / std::sqrt(5.0), 1 - 0.1 * 2 / 2});
    CHECK(values(r[1]) == std::vector<double>{1, 4});
    update_agrees_with_reference(2,
                                 [](std::vector<Expr> e) { return rmsprop_apply(e[0], e[1], e[2], 1e-3, 0.9, 1e-7); });
    update_agrees_with_reference(
        2, [](std::vector<Expr> e) { return rmsprop_apply(e[0], e[1], e[2], 1e-3, 0.9, 1e-7); }, {}, DType::f64);
    for (DType dt : {DType::f32, DType::f64})
        update_matches_unfused(
            2, [](std::vector<Expr> e) { return rmsprop_apply(e[0], e[1], e[2], 1e-3, 0.9, 1e-7); },
            [](std::vector<Expr> e) {
                const Expr a = e[1] * 0.9 + (e[2] * e[2]) * (1 - 0.9);
                return std::vector<Expr>{e[0] - e[2] * 1e-3 / (sqrt(a) + 1e-7), a};
            },
            {}, dt);
    no_gradient_through([](Graph& gr, const Expr& x) {
        return rmsprop_apply(gr.variable("w", Tensor::zeros({2})), gr.variable("a", Tensor::zeros({2})), x, 0.1, 0.9,
                             1e-7);
    });
    // The same variable as weights and state: both would be written, which the plan refuses.
    const Expr twice = rmsprop_apply(w, w, grad, 0.1, 0.9, 1e-7);
    CHECK_ERROR(sess.run({twice}, {{grad, Tensor::from({1.0, 1.0})}}), "variable \"w\" is assigned twice");
    CHECK_ERROR(rmsprop_apply(w, grad, grad, 0.1, 0.9, 1e-7), "rmsprop_apply",
                "\"g\" is a placeholder, not a variable");
    CHECK_ERROR(rmsprop_apply(w, g.variable("b", Tensor::zeros({3}, DType::f64)), grad, 0.1, 0.9, 1e-7),
                "input 1 is (3,), input 0 is (2,)");
    CHECK_ERROR(rmsprop_apply(w, a, g.placeholder("h", {2}), 0.1, 0.9, 1e-7), "f32", "f64");
}

template <> void op_case<ops::AdamApply>() {
    Graph g;
    const Expr w = g.variable("w", Tensor::from({1.0}));
    const Expr m = g.variable("m", Tensor::from({0.5}));
    const Expr v = g.variable("v", Tensor::from({4.0}));
    const Expr grad = g.placeholder("g", {1}, DType::f64);
    const Expr up = adam_apply(w, m, v, grad, g.constant(Tensor::scalar(0.01)), 0.9, 0.99, 0.0);
    Session sess(g);
    sess.run({}, {{grad, Tensor::from({2.0})}}, {up});
    const double m_new = 0.9 * 0.5 + 0.1 * 2, v_new = 0.99 * 4 + 0.01 * 4;  // 0.65, 4
    CHECK(sess.value(m).item<double>() == doctest::Approx(m_new).epsilon(1e-15));
    CHECK(sess.value(v).item<double>() == doctest::Approx(v_new).epsilon(1e-15));
    CHECK(sess.value(w).item<double>() == doctest::Approx(1 - 0.01 * m_new / std::sqrt(v_new)).epsilon(1e-15));
    update_agrees_with_reference(
        3, [](std::vector<Expr> e) { return adam_apply(e[0], e[1], e[2], e[3], e[4], 0.9, 0.999, 1e-7); },
        {Tensor::scalar(1e-3f)});
    update_matches_unfused(
        3, [](std::vector<Expr> e) { return adam_apply(e[0], e[1], e[2], e[3], e[4], 0.9, 0.999, 1e-7); },
        [](std::vector<Expr> e) {
            const Expr m = e[1] * 0.9 + e[3] * (1 - 0.9), v = e[2] * 0.999 + (e[3] * e[3]) * (1 - 0.999);
            return std::vector<Expr>{e[0] - e[4] * m / (sqrt(v) + 1e-7), m, v};
        },
        {Tensor::scalar(1e-3f)});
    no_gradient_through([](Graph& gr, const Expr& x) {
        return adam_apply(gr.variable("w", Tensor::zeros({2})), gr.variable("m", Tensor::zeros({2})),
                          gr.variable("v", Tensor::zeros({2})), x, gr.constant(Tensor::scalar(0.1f)), 0.9, 0.999, 1e-7);
    });
    CHECK_ERROR(adam_apply(w, m, v, grad, g.constant(Tensor::from({0.1, 0.1})), 0.9, 0.999, 1e-7),
                "the learning rate (input 4) must be a scalar");
}

}  // namespace adjoint::test
