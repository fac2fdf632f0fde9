// The autograd pass: values, VJPs and HVPs, zeros for unrelated wrt, errors, provenance,
// deep graphs, and the whole MLP's gradient and Hessian-vector checks.
#include <functional>
#include <limits>
#include <sstream>

#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("gradients: values, fan-out, broadcasting, VJPs") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w = g.variable("w", Tensor::from({{1.f}, {2.f}, {3.f}}));
    const Expr b = g.variable("b", Tensor::from({0.5f}));
    const Expr y = matmul(x, w) + b;   // (batch, 1): b broadcast over the batch
    const Expr loss = sum(y * y + y);  // fan-out: y used three times
    const auto gs = gradients(loss, {w, b, x});
    CHECK(gs[0].shape() == Shape{3, 1});
    CHECK(gs[1].shape() == Shape{1});  // summed back over the batch
    CHECK(gs[2].shape() == Shape{batch, 3});
    Session sess(g);
    const Tensor xv = Tensor::from({{1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}});
    const auto r = sess.run(gs, {{x, xv}});
    // y = (1.5, 2.5); dloss/dy = 2y + 1 = (4, 6)
    CHECK(values(r[0]) == std::vector<double>{4, 6, 0});
    CHECK(values(r[1]) == std::vector<double>{10});
    CHECK(values(r[2]) == std::vector<double>{4, 8, 12, 6, 12, 18});
    // Vector-Jacobian product with a seed of y's shape.
    const Expr seed = g.placeholder("seed", {batch, 1});
    const Expr vj = gradients(y, {w}, seed)[0];
    CHECK(values(sess.run({vj}, {{x, xv}, {seed, Tensor::from({{10.f}, {100.f}})}})[0]) ==
          std::vector<double>{10, 100, 0});
    // The gradient of a node with respect to itself is the seed.
    CHECK(values(sess.run(gradients(loss, {loss}))[0]) == std::vector<double>{1});
}

TEST_CASE("gradients: a wrt that the output does not depend on gets zeros of its shape") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 2});
    const Expr w = g.variable("w", {2, 2}, init::uniform(-1, 1, 1));
    const Expr unused = g.variable("unused", {3}, init::zeros());
    const Expr later = g.variable("later", {2}, init::zeros());
    const Expr loss = sum(matmul(x, w));
    const Expr stopped = sum(stop_gradient(x) * 2.f);
    const auto gs = gradients(loss, {unused, later, x});
    const auto gx = gradients(stopped, {x})[0];
    Session sess(g);
    const Feeds feeds{{x, Tensor::zeros({4, 2})}};
    const auto r = sess.run({gs[0], gs[1], gs[2], gx}, feeds);
    CHECK(values(r[0]) == std::vector<double>{0, 0, 0});
    CHECK(values(r[1]) == std::vector<double>{0, 0});
    CHECK(r[2].shape() == Shape{4, 2});
    CHECK(r[3].shape() == Shape{4, 2});  // zeros with the run's batch size
    CHECK(values(r[3]) == std::vector<double>(8, 0));
}

TEST_CASE("gradients: errors name the node at fault") {
    Graph g, other;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w = g.variable("w", {3, 2}, init::zeros());
    const Expr y = matmul(x, w);
    CHECK_ERROR(gradients(y, {w}), "output \"matmul\" has shape (batch, 2), not a scalar", "test_gradients.cpp");
    CHECK_ERROR(gradients(y, {w}, g.placeholder("s", {batch, 3})),
                "dy \"s\" is f32 (batch, 3) but output \"matmul\" is f32 (batch, 2)");
    CHECK_ERROR(gradients(sum(y), {other.variable("v", {2}, init::zeros())}), "wrt",
                "node \"v\" belongs to another graph");
    CHECK_ERROR(gradients(sum(cast(y, DType::i32)), {w}), "output \"sum", "has dtype i32");
    CHECK_ERROR(gradients(sum(y), {Expr{}}), "empty Expr");
}

TEST_CASE("gradients: a rule's node that cannot be built names the gradients call and the forward node") {
    // (2^62, batch) is fine while the batch size is unknown; softmax's rule sums over the
    // last axis, keeping it as 1: (2^62, 1) f32 does not fit in memory, so building fails.
    Graph g;
    const Expr x = g.placeholder("x", {batch, std::int64_t{1} << 62});
    const Expr w = g.variable("w", {1}, init::zeros());
    const SourceLocation here = SourceLocation::current();
    const Expr p = softmax(transpose(x * w), -1, here);
    const SourceLocation call = SourceLocation::current();
    // gradients (<file>:<call's line>): the gradient of softmax "softmax" (built at
    // <file>:<its line>) cannot be built: sum "grad/softmax/sum" on ... overflows ...
    const std::string caller = fmt::format("test_gradients.cpp:{}): the gradient of softmax", call.line());
    const std::string forward = fmt::format("\"softmax\" (built at {}", where(here));
    CHECK_ERROR(gradients(sum(p), {w}, std::nullopt, call), "gradients (", caller.c_str(), forward.c_str(),
                ") cannot be built: sum \"grad/softmax/sum\"", "overflows");
}

TEST_CASE("gradients: nodes are named under grad/, carry provenance, and show in dumps") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 4});
    const Expr w = g.variable("w", {4, 3}, init::glorot_uniform(1));
    Expr h;
    {
        auto s = g.scope("h1");
        h = matmul(x, w);
    }
    const Expr loss = mean(relu(h));
    const std::size_t forward_nodes = g.size();
    const Expr dw = gradients(loss, {w})[0];
    CHECK(dw.name().rfind("grad/h1/matmul/", 0) == 0);
    CHECK(dw.node().gradient_of.has_value());
    CHECK(dw.node().gradient_of->forward == h.id());
    CHECK(dw.node().gradient_of->rule == "matmul");
    for (NodeId n = forward_nodes; n < g.size(); ++n) {
        CAPTURE(g.node(n).name);
        CHECK(g.node(n).name.rfind("grad/", 0) == 0);
        CHECK(g.node(n).gradient_of.has_value());
    }
    std::ostringstream text, dot;
    dump_text(g, text);
    CHECK(text.str().find(fmt::format("  ; gradient of {} \"h1/matmul\" by the matmul rule", h.id())) !=
          std::string::npos);
    dump_dot(g, dot, {dw});
    CHECK(dot.str().find("#f8d7da") != std::string::npos);  // gradient nodes have their own colour
}

TEST_CASE("gradients: iterative and linear on a 100,000-node chain") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 2});
    Expr h = x;
    for (int i = 0; i < 100000; ++i) h = -h;  // even count: y = x
    const Expr dx = gradients(sum(h * h), {x})[0];
    CHECK(g.size() < 4 * 100000 + 20);
    Session sess(g);
    const auto r = sess.run({dx}, {{x, Tensor::from({{1.f, -2.f}})}});
    CHECK(values(r[0]) == std::vector<double>{2, -4});
}

TEST_CASE("gradients: grad of grad (Hessian-vector product), as in the API example") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w1 = g.variable("w1", {3, 2}, init::uniform(-1, 1, 4), DType::f32);
    const Expr loss = sum(pow(matmul(x, w1), 3));
    const std::vector<Expr> gs = gradients(loss, {w1});
    const Expr v = g.constant(Tensor::from({{1.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}}));
    const Expr hv = gradients(sum(gs[0] * v), {w1})[0];
    Session sess(g);
    // loss = sum_b (x_b w)^3; H[(i,j),(k,l)] = 6 sum_b (x_b w)_j x_bi x_bk [j == l]
    const auto r = sess.run({hv, matmul(x, w1)}, {{x, Tensor::from({{1.f, 2.f, 3.f}})}});
    const double a = r[1].data<float>()[0];
    CHECK(values(r[0])[0] == doctest::Approx(6 * a * 1 * 1));
    CHECK(values(r[0])[2] == doctest::Approx(6 * a * 2 * 1));
    CHECK(values(r[0])[4] == doctest::Approx(6 * a * 3 * 1));
    CHECK(values(r[0])[1] == 0);
}

TEST_CASE("gradients: the 784-512-10 MLP passes the gradient and Hessian-vector checks") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 784}, DType::f64);
    const Expr labels = g.placeholder("labels", {batch}, DType::i32);
    const Expr w1 = g.variable("w1", {784, 512}, init::glorot_uniform(1), DType::f64);
    const Expr b1 = g.variable("b1", {512}, init::uniform(-0.1, 0.1, 2), DType::f64);
    const Expr w2 = g.variable("w2", {512, 10}, init::glorot_uniform(3), DType::f64);
    const Expr b2 = g.variable("b2", {10}, init::uniform(-0.1, 0.1, 4), DType::f64);
    const Expr h = relu(matmul(x, w1) + b1);
    const Expr logits = matmul(h, w2) + b2;
    const Expr loss = mean(softmax_cross_entropy(logits, one_hot(labels, 10, DType::f64)));
    const Feeds feeds{{x, random_tensor({3, 784}, DType::f64, 0, 1, 11)},
                      {labels, Tensor::from<std::int32_t>({3, 7, 0})}};
    GradCheckOptions options;
    options.max_samples = 40;  // coordinates per variable: w1 alone has 401,408
    options.seed = 5;
    const GradCheckReport first = check_gradients(loss, {w1, b1, w2, b2}, feeds, options);
    INFO(first.str());
    CHECK(first.ok());
    CHECK(first.entries.size() == 4);
    CHECK(first.entries[0].checked == 40);
    CHECK(first.entries[3].checked == 10);  // b2 has 10 elements: all checked
    const GradCheckReport second = check_hessian_vector(loss, {w1, b1, w2, b2}, feeds, options);
    INFO(second.str());
    CHECK(second.ok());
}

TEST_CASE("gradients: none is built into a count or through stop_gradient, which pass none") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w = g.variable("w", Tensor::from({1.f, 2.f, 3.f}));
    const Expr s = sum(x * w);
    const Expr d = s / element_count(x);  // mean over a batch dim: the count needs no gradient
    const Expr y = d + sum(stop_gradient(w) * w);
    const std::size_t before = g.size();
    (void)gradients(y, {w});
    std::size_t of_div = 0, of_count_or_stop = 0;
    for (NodeId n = before; n < g.size(); ++n) {
        const Node& node = g.node(n);
        REQUIRE(node.gradient_of);
        if (node.gradient_of->forward == d.id()) ++of_div;
        const std::string_view op = g.node(node.gradient_of->forward).op_name();
        if (op == "element_count" || op == "stop_gradient") ++of_count_or_stop;
    }
    CHECK(of_div == 1);  // dy / count, for the sum; nothing for the count (it was 4 nodes)
    CHECK(of_count_or_stop == 0);
}

TEST_CASE("check_gradients: reports errors per variable and catches a wrong gradient") {
    Graph g;
    const Expr x = g.placeholder("x", {2, 3}, DType::f64);
    const Expr w = g.variable("w", Tensor::from({1.0, -2.0, 0.5}));
    // stop_gradient hides half of d/dx (x * x): symbolic x, numeric 2x.
    const Expr wrong = sum(stop_gradient(x) * x * w);
    const Feeds feeds{{x, random_tensor({2, 3}, DType::f64, 1, 2, 3)}};
    const GradCheckReport r = check_gradients(wrong, {x, w}, feeds);
    INFO(r.str());
    CHECK(!r.ok());
    CHECK(!r.entries[0].ok);
    CHECK(r.entries[0].max_rel_error == doctest::Approx(0.5));
    CHECK(r.entries[1].ok);  // w's gradient is right
    CHECK(r.deterministic);
    CHECK(r.str().find("FAILED") != std::string::npos);
    // A non-scalar output is checked through its full Jacobian.
    const GradCheckReport full = check_gradients(x * w, {x, w}, feeds);
    CHECK(full.ok());
    CHECK(full.entries[0].checked == 36);  // 6 outputs x 6 inputs
    CHECK_ERROR(check_gradients(wrong, {g.constant(Tensor::scalar(1.0))}, feeds), "is a constant");
    CHECK_ERROR(check_gradients(wrong, {x}), "placeholder \"x\" is not fed");
    CHECK_ERROR(check_gradients(wrong, {assign(w, w * 2.0)}, feeds), "is an update (assign)");
    // The report names the worst entry: x's [4] (the largest |x|), symbolic x, numeric 2x.
    CHECK(r.entries[0].worst_symbolic * 2 == doctest::Approx(r.entries[0].worst_numeric));
    CHECK(r.str().find("worst entry") != std::string::npos);
}

TEST_CASE("check_gradients: with respect to intermediate nodes, which localises a wrong rule") {
    Graph g;
    const Expr x = g.placeholder("x", {2, 3}, DType::f64);
    const Expr w = g.variable("w", Tensor::from({1.0, -2.0, 0.5}));
    const Expr h = x * w;                 // right
    const Expr k = stop_gradient(h) * h;  // wrong: d k / d h is h, not 2h
    const Expr out = sum(exp(k * 0.1));   // right
    const Feeds feeds{{x, random_tensor({2, 3}, DType::f64, 1, 2, 3)}};
    const std::size_t nodes = g.size();
    const GradCheckReport r = check_gradients(out, {k, h, w}, feeds);
    INFO(r.str());
    CHECK(r.entries[0].ok);   // from k on, the rules are right
    CHECK(!r.entries[1].ok);  // h's gradient is wrong: the rule between h and k is
    CHECK(r.entries[1].max_rel_error == doctest::Approx(0.5));
    CHECK(!r.entries[2].ok);
    CHECK(g.size() == nodes);  // the check ran on a copy: the user's graph is as it was
    const GradCheckReport second = check_hessian_vector(out, {k}, feeds);
    INFO(second.str());
    CHECK(second.ok());
}

TEST_CASE("check_gradients: an f32 graph is checked in f64, so a bias gradient 29 % wrong cannot pass") {
    // A softmax regression whose bias gradient is 71 % of the true one: b + 0.29 (sg(b) - b)
    // has b's value and the derivative 0.71.
    Graph g;
    const Expr x = g.placeholder("x", {batch, 20});
    const Expr labels = g.placeholder("labels", {batch}, DType::i32);
    const Expr w = g.variable("w", {20, 10}, init::glorot_uniform(1));
    const Expr b = g.variable("b", {10}, init::uniform(-0.1, 0.1, 2));
    const Expr b_used = b + 0.29f * (stop_gradient(b) - b);
    // (Scaled so that the bias gradients are small, as they often are.)
    const Expr loss = 0.1f * mean(softmax_cross_entropy(matmul(x, w) + b_used, one_hot(labels, 10)));
    const Feeds feeds{{x, random_tensor({8, 20}, DType::f32, 0, 1, 11)},
                      {labels, Tensor::from<std::int32_t>({3, 7, 0, 1, 2, 9, 9, 4})}};
    const GradCheckReport wide = check_gradients(loss, {w, b}, feeds);
    INFO(wide.str());
    CHECK(wide.dtype == "f64 (the graph is f32)");
    CHECK(wide.entries[0].ok);
    CHECK(!wide.entries[1].ok);
    CHECK(wide.entries[1].max_rel_error == doctest::Approx(0.29).epsilon(1e-3));
    // In f32 with f32's tolerances it would pass: the errors are below atol 1e-2.
    GradCheckOptions f32_options;
    f32_options.widen = false;
    const GradCheckReport narrow = check_gradients(loss, {w, b}, feeds, f32_options);
    INFO(narrow.str());
    CHECK(narrow.dtype == "f32");
    CHECK(narrow.entries[1].ok);
    // A right graph passes in f64.
    const Expr right = mean(softmax_cross_entropy(matmul(x, w) + b, one_hot(labels, 10)));
    CHECK(check_gradients(right, {w, b}, feeds).ok());
}

TEST_CASE("gradients: every rule at the edges of its domain: no 0 * inf where the derivative exists") {
    // f applied element-wise at points where f' and f'' exist (exact zeros, the saturated
    // tails): the first and second derivatives, f' = d sum(f(x)) / dx and
    // f'' = d sum(f'(x)) / dx, exactly, in f64.
    struct Case {
        const char* name;
        std::function<Expr(Expr)> f;
        std::vector<double> x, d1, d2;
    };
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<Case> cases{
        {"pow 0", [](const Expr& x) { return pow(x, 0); }, {0, 2}, {0, 0}, {0, 0}},
        {"pow 1", [](const Expr& x) { return pow(x, 1); }, {0, -2}, {1, 1}, {0, 0}},
        {"pow 2", [](const Expr& x) { return pow(x, 2); }, {0, 3}, {0, 6}, {2, 2}},
        {"pow 3", [](const Expr& x) { return pow(x, 3); }, {0, 1}, {0, 3}, {0, 6}},
        {"square", [](const Expr& x) { return square(x); }, {0, -1}, {0, -2}, {2, 2}},
        {"relu", [](const Expr& x) { return relu(x); }, {0, -1, 2}, {0, 0, 1}, {0, 0, 0}},
        {"neg", [](const Expr& x) { return -x; }, {0}, {-1}, {0}},
        {"exp", [](const Expr& x) { return exp(x); }, {-inf, 0}, {0, 1}, {0, 1}},
        {"sigmoid", [](const Expr& x) { return sigmoid(x); }, {-1000, 1000, 0}, {0, 0, 0.25}, {0, 0, 0}},
        {"tanh", [](const Expr& x) { return tanh(x); }, {-1000, 1000, 0}, {0, 0, 1}, {0, 0, 0}},
        {"x - x", [](const Expr& x) { return x - x; }, {0, 5}, {0, 0}, {0, 0}},
        {"x * x", [](const Expr& x) { return x * x; }, {0}, {0}, {2}},
        {"x / 2", [](const Expr& x) { return x / 2.0; }, {0}, {0.5}, {0}},
        {"2 / x", [](const Expr& x) { return 2.0 / x; }, {1, -2}, {-2, -0.5}, {4, -0.5}},
        {"maximum(x, 0)", [](const Expr& x) { return maximum(x, x * 0.0); }, {0, 1}, {1, 1}, {0, 0}},
        {"softmax over 1",
         [](const Expr& x) {
             return softmax(reshape(x, {x.shape()[0], 1}));
         },
         {0, 3},
         {0, 0},
         {0, 0}},
        {"log_softmax over 1",
         [](const Expr& x) {
             return log_softmax(reshape(x, {x.shape()[0], 1}));
         },
         {0, 3},
         {0, 0},
         {0, 0}},
        {"softmax over 1, axis 0",
         [](const Expr& x) {
             return softmax(reshape(x, {1, x.shape()[0]}), 0);
         },
         {0, 3},
         {0, 0},
         {0, 0}},
        {"log", [](const Expr& x) { return log(x); }, {1, 2}, {1, 0.5}, {-1, -0.25}},
        {"sqrt", [](const Expr& x) { return sqrt(x); }, {4}, {0.25}, {-0.03125}},
        {"softplus", [](const Expr& x) { return softplus(x); }, {0, -1000, 1000}, {0.5, 0, 1}, {0.25, 0, 0}},
        {"minimum(x, 0)", [](const Expr& x) { return minimum(x, x * 0.0); }, {0, 1, -1}, {1, 0, 1}, {0, 0, 0}},
        {"2 / x at inf", [](const Expr& x) { return 2.0 / x; }, {inf, -inf}, {-0.0, -0.0}, {0, 0}},
        {"sum", [](const Expr& x) { return sum(x); }, {0, 5}, {1, 1}, {0, 0}},
        {"mean", [](const Expr& x) { return mean(x); }, {0, 5}, {0.5, 0.5}, {0, 0}},
        {"max, tied", [](const Expr& x) { return max(x); }, {1, 3, 3}, {0, 0.5, 0.5}, {0, 0, 0}},
        {"softmax_cross_entropy, equal logits",
         [](const Expr& x) {
             const Expr labels = x.graph().constant(Tensor::from({{1.0, 0.0}}));
             return softmax_cross_entropy(reshape(x, {1, 2}), labels);
         },
         {0, 0},
         {-0.5, 0.5},
         {0, 0}},
        {"matmul",
         [](const Expr& x) {
             return matmul(reshape(x, {1, 2}), x.graph().constant(Tensor::from({{2.0}, {3.0}})));
         },
         {0, 1},
         {2, 3},
         {0, 0}},
    };
    for (const Case& c : cases) {
        INFO(std::string(c.name));
        Graph g;
        const std::int64_t n = static_cast<std::int64_t>(c.x.size());
        const Expr x = g.placeholder("x", {n}, DType::f64);
        const Expr d1 = gradients(sum(c.f(x)), {x})[0];
        const Expr d2 = gradients(sum(d1), {x})[0];
        Session sess(g);
        const auto r = sess.run({d1, d2}, {{x, Tensor::from<double>(c.x, Shape{n})}});
        INFO("f' = ", to_string(r[0]), ", f'' = ", to_string(r[1]));
        CHECK(values(r[0]) == c.d1);
        CHECK(values(r[1]) == c.d2);
    }
}

TEST_CASE("gradients: a NaN input's gradient goes where y came from; an infinite dy gives unselected inputs 0") {
    const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
    Graph g;
    const Expr a = g.placeholder("a", {4}, DType::f64), b = g.placeholder("b", {4}, DType::f64);
    const Expr dy = g.placeholder("dy", {4}, DType::f64);
    const Feeds feeds{{a, Tensor::from({nan, 1.0, 2.0, -1.0})},
                      {b, Tensor::from({5.0, nan, 2.0, 0.0})},
                      {dy, Tensor::from({inf, inf, inf, inf})}};
    Session sess(g);
    // maximum: y = [NaN (a), NaN (b), 2 (a tie: a), 0 (b)]
    const auto mx = sess.run(gradients(maximum(a, b), {a, b}, dy), feeds);
    CHECK(values(mx[0]) == std::vector<double>{inf, 0, inf, 0});
    CHECK(values(mx[1]) == std::vector<double>{0, inf, 0, inf});
    // minimum: y = [NaN (a), NaN (b), 2 (a), -1 (a)]
    const auto mn = sess.run(gradients(minimum(a, b), {a, b}, dy), feeds);
    CHECK(values(mn[0]) == std::vector<double>{inf, 0, inf, inf});
    CHECK(values(mn[1]) == std::vector<double>{0, inf, 0, 0});
    // relu: the negative entry gets 0, not 0 * inf.
    CHECK(values(sess.run(gradients(relu(b), {b}, dy), feeds)[0]) == std::vector<double>{inf, 0, inf, 0});
    // max over all: a NaN is the max; the others get 0.
    const Expr top = g.placeholder("top", {}, DType::f64);
    const auto r =
        sess.run(gradients(max(a), {a}, top), {{a, Tensor::from({nan, 1.0, 2.0, -1.0})}, {top, Tensor::scalar(inf)}});
    CHECK(values(r[0]) == std::vector<double>{inf, 0, 0, 0});
    const auto t =
        sess.run(gradients(max(b), {b}, top), {{b, Tensor::from({3.0, 1.0, 3.0, 0.0})}, {top, Tensor::scalar(inf)}});
    CHECK(values(t[0]) == std::vector<double>{inf, 0, inf, 0});
}

}  // namespace adjoint::test
