// Session and executor: pruning, plans, determinism across thread counts, assigns,
// run-time errors.

#include <tbb/global_control.h>
#include <tbb/info.h>

#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("Session: the example program's values") {
    Graph g;
    const Expr x = g.placeholder("x", Shape{batch, 3});
    const Expr w = g.variable("w", Tensor::from({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}}));
    const Expr b = g.variable("b", Tensor::from({0.5f, -0.5f}));
    const Expr y = relu(matmul(x, w) + b);
    const Expr s = sum(y);
    Session sess(g, {.threads = 2});
    const auto out = sess.run({y, s}, {{x, Tensor::from({{1.f, 0.f, -1.f}, {0.f, 1.f, 0.f}})}});
    CHECK(fmt::format("{}", out[0]) == "[[0, 0], [3.5, 3.5]]");
    CHECK(fmt::format("{}", out[1]) == "7");
}

TEST_CASE("Session: pruning, feeds built at run time, fetching leaves") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 2});
    const Expr unused = g.placeholder("unused", {batch, 2});
    const Expr c = g.constant(Tensor::from({1.f, 2.f}));
    const Expr y = x * c;
    const Expr z = unused * c;  // off the fetch path: its placeholder need not be fed
    (void)z;
    Session sess(g);
    Feeds feeds;
    feeds.push_back({unused, Tensor::from({{9.f, 9.f}})});  // feeds known only at run time
    feeds.pop_back();
    feeds.push_back({x, Tensor::from({{1.f, 1.f}})});
    const auto out = sess.run({y, c, x}, feeds);
    CHECK(values(out[0]) == std::vector<double>{1, 2});
    CHECK(values(out[1]) == std::vector<double>{1, 2});
    CHECK(values(out[2]) == std::vector<double>{1, 1});
    CHECK(sess.plan_info({y}, feeds).steps == 1);
    // Results are copies: the next run does not change them.
    feeds[0].value = Tensor::from({{3.f, 3.f}});
    sess.run({y, c, x}, feeds);
    CHECK(values(out[0]) == std::vector<double>{1, 2});
    // Constants and variables alone need no feeds.
    CHECK(values(sess.run({sum(c)})[0]) == std::vector<double>{3});
}

TEST_CASE("Session: one plan per (fetches, feed shapes), reused") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 4});
    const Expr y = sum(relu(x), {1});
    Session sess(g);
    for (int i = 0; i < 3; ++i) sess.run({y}, {{x, Tensor::zeros({128, 4})}});
    CHECK(sess.cached_plans() == 1);
    sess.run({y}, {{x, Tensor::zeros({96, 4})}});
    CHECK(sess.cached_plans() == 2);
    CHECK(sess.run({y}, {{x, Tensor::zeros({1, 4})}})[0].shape() == Shape{1});
    CHECK(sess.cached_plans() == 3);
    CHECK(sess.plan_info({y}, {{x, Tensor::zeros({96, 4})}}).batch_size == 96);
    CHECK(sess.cached_plans() == 3);
}

TEST_CASE("Session: buffers are reused once their last reader is done") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 256});
    Expr h = x;
    for (int i = 0; i < 20; ++i) h = tanh(h) * 0.5f;  // a long chain of same-sized values
    Session sess(g, {.threads = 2});
    const Feeds feeds{{x, random_tensor({128, 256}, DType::f32, -1, 1, 3)}};
    const PlanInfo info = sess.plan_info({h}, feeds);
    CHECK(info.steps == 40);
    CHECK(info.unshared_bytes == 40u * 128 * 256 * 4);
    CHECK(info.buffers <= 3);
    CHECK(info.peak_bytes <= 3u * 128 * 256 * 4);
    // and the answer is that of a naive evaluation
    const Tensor got = sess.run({h}, feeds)[0];
    std::vector<double> want = values(feeds[0].value);
    for (double& v : want)
        for (int i = 0; i < 20; ++i)
            v = static_cast<float>(static_cast<float>(std::tanh(static_cast<float>(v))) * 0.5f);
    const std::vector<double> have = values(got);
    for (std::size_t i = 0; i < want.size(); i += 997) CHECK(have[i] == doctest::Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("Session: a reshape of a computed value is a view of its buffer, which lives for the view's readers") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 256});
    const Expr a = tanh(x);
    // r's only reader comes after exp(x) and b * 3.f are computed: were a's buffer freed
    // when r was made, one of them would take it and r would read their values.
    const Expr r = reshape(reshape(a, {batch, 16, 16}), {batch, 4, 64});
    const Expr b = exp(x) * 3.f;
    const Expr out = r + reshape(b, {batch, 4, 64});
    Session sess(g, {.threads = 2, .profile = true});
    const Feeds feeds{{x, random_tensor({64, 256}, DType::f32, -1, 1, 7)}};
    const std::vector<Tensor> got = sess.run({out, r}, feeds);
    std::vector<double> want = values(feeds[0].value), want_r = want;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const auto v = static_cast<float>(want[i]);
        want_r[i] = std::tanh(v);
        want[i] = static_cast<float>(std::tanh(v) + static_cast<float>(std::exp(v) * 3.f));
    }
    CHECK(values(got[0]) == want);
    CHECK(values(got[1]) == want_r);
    CHECK(got[1].shape() == Shape{64, 4, 64});
    // No reshape ran a kernel (profile() lists only nodes that did), and none took bytes:
    // the same buffers as without them.
    int reshapes_run = 0;
    for (const NodeTiming& t : sess.profile()) reshapes_run += g.node(t.node).op_name() == "reshape";
    CHECK(reshapes_run == 0);
    const PlanInfo views = sess.plan_info({out}, feeds);
    const PlanInfo flat = sess.plan_info({a + b}, feeds);
    CHECK(views.steps == flat.steps + 3);
    CHECK(views.buffers == flat.buffers);
    CHECK(views.peak_bytes == flat.peak_bytes);
    CHECK(views.unshared_bytes == flat.unshared_bytes);
    // A fetched view is a copy: the next run does not change it.
    const Tensor& kept = got[1];
    const std::vector<double> before = values(kept);
    (void)sess.run({out}, {{x, Tensor::zeros({64, 256})}});
    CHECK(values(kept) == before);
}

TEST_CASE("Session: a reshape of a fed value or of a variable is a copy, read before the variable is written") {
    Graph g;
    const Expr v = g.variable("v", Tensor::from({1.f, 2.f, 3.f, 4.f}));
    const Expr x = g.placeholder("x", {4});
    const Expr rv = reshape(v, {2, 2});
    const Expr rx = reshape(x, {2, 2});
    Session sess(g, {.profile = true});
    const Tensor fed = Tensor::from({5.f, 6.f, 7.f, 8.f});
    const auto got = sess.run({rv * 1.f, rx}, {{x, fed}}, {assign(v, v * 10.f)});
    CHECK(values(got[0]) == std::vector<double>{1, 2, 3, 4});  // v before the assign
    CHECK(values(got[1]) == std::vector<double>{5, 6, 7, 8});
    CHECK(values(sess.value(v)) == std::vector<double>{10, 20, 30, 40});
    int reshapes_run = 0;  // both copied, once each
    for (const NodeTiming& t : sess.profile())
        if (g.node(t.node).op_name() == "reshape") {
            ++reshapes_run;
            CHECK(t.calls == 1);
        }
    CHECK(reshapes_run == 2);
}

TEST_CASE("Session: results are bit-for-bit the same on 1, 2 and 4 threads") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 784});
    const Expr w1 = g.variable("w1", {784, 512}, init::glorot_uniform(1));
    const Expr b1 = g.variable("b1", {512}, init::uniform(-0.1, 0.1, 2));
    const Expr w2 = g.variable("w2", {512, 10}, init::glorot_uniform(3));
    const Expr h = relu(matmul(x, w1) + b1);
    const Expr logits = matmul(h, w2);
    const Expr big = g.placeholder("big", {3000, 700});
    const Expr tall = g.placeholder("tall", {43264, 32});  // the first conv layer's bias gradient
    const std::vector<Expr> fetches{logits,        sum(h),        sum(h, {0}),     mean(logits, {1}), sum(big),
                                    max(big, {0}), sum(big, {1}), softmax(logits), sum(x * x),        sum(tall, {0})};
    const Feeds feeds{{x, random_tensor({128, 784}, DType::f32, 0, 1, 4)},
                      {big, random_tensor({3000, 700}, DType::f32, -1, 1, 5)},
                      {tall, random_tensor({43264, 32}, DType::f32, -1, 1, 6)}};
    std::vector<std::vector<Tensor>> runs;
    {
        // 4 real threads, even on 2 cores (see test_concurrency.cpp).
        tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
        for (int threads : {1, 2, 4}) {
            Session sess(g, {.threads = threads});
            CHECK(sess.threads() == threads);
            runs.push_back(sess.run(fetches, feeds));
        }
    }
    // Without that, a Session is capped at the threads TBB may run: the cores.
    CHECK(Session(g, {.threads = 1 << 20}).threads() == tbb::info::default_concurrency());
    for (std::size_t i = 0; i < fetches.size(); ++i) {
        CAPTURE(i);
        CHECK(bitwise_equal(runs[0][i], runs[1][i]));
        CHECK(bitwise_equal(runs[0][i], runs[2][i]));
    }
}

TEST_CASE("Session: assigns write after every read, only when the run succeeds") {
    Graph g;
    const Expr v = g.variable("v", Tensor::from({1.f, 2.f}));
    const Expr u = g.variable("u", Tensor::from({10.f, 20.f}));
    const Expr labels = g.placeholder("labels", {2}, DType::i32);
    const Expr read = v * 1.f;
    const Expr step_v = assign(v, v + u);  // reads v, u
    const Expr step_u = assign(u, u * v);  // reads u and the *old* v
    Session sess(g);
    const auto out = sess.run({read, step_v, step_u, v});
    CHECK(values(out[0]) == std::vector<double>{1, 2});  // read before the assign
    CHECK(values(out[1]) == std::vector<double>{11, 22});
    CHECK(values(out[2]) == std::vector<double>{10, 40});  // u * old v
    CHECK(values(out[3]) == std::vector<double>{1, 2});    // a fetched variable shows its value at the start
    CHECK(values(sess.value(v)) == std::vector<double>{11, 22});
    CHECK(values(sess.value(u)) == std::vector<double>{10, 40});
    // Targets run without being returned.
    const Expr bump = assign(u, u + 1.f);
    CHECK(sess.run({}, {}, {bump}).empty());
    CHECK(values(sess.value(u)) == std::vector<double>{11, 41});
    CHECK(values(sess.run({u * 1.f}, {}, {bump})[0]) == std::vector<double>{11, 41});  // read before the write
    CHECK(values(sess.value(u)) == std::vector<double>{12, 42});
    sess.set_value(u, Tensor::from({10.f, 40.f}));
    // Something downstream of an assign sees the new value.
    const auto after = sess.run({step_v * 2.f});
    CHECK(values(after[0]) == std::vector<double>{42, 124});
    // A failing kernel anywhere in the run leaves every variable as it was.
    const Expr logits = g.constant(Tensor::from({{0.f, 1.f}, {1.f, 0.f}}));
    const Expr loss = sum(sparse_softmax_cross_entropy(logits, labels));
    const Expr guarded = assign(v, v + loss);
    CHECK_ERROR(sess.run({guarded, step_u}, {{labels, Tensor::from<std::int32_t>({1, 7})}}),
                "sparse_softmax_cross_entropy", "label 7 in row 1 is out of range [0, 2)", "test_session.cpp");
    CHECK(values(sess.value(v)) == std::vector<double>{21, 62});
    CHECK(values(sess.value(u)) == std::vector<double>{10, 40});
    // Also a kernel that fails after the updates, computing from an updated value (the
    // update phase): the variables are put back as they were.
    const Expr one_label = g.placeholder("one_label", {1}, DType::i32);
    const Expr downstream = sum(sparse_softmax_cross_entropy(reshape(assign(v, v + 1.f), {1, 2}), one_label));
    const Expr also = assign(u, u * 3.f);
    CHECK_ERROR(sess.run({downstream}, {{one_label, Tensor::from<std::int32_t>({7})}}, {also}), "label 7 in row 0");
    CHECK(values(sess.value(v)) == std::vector<double>{21, 62});
    CHECK(values(sess.value(u)) == std::vector<double>{10, 40});
    sess.run({downstream}, {{one_label, Tensor::from<std::int32_t>({1})}}, {also});
    CHECK(values(sess.value(v)) == std::vector<double>{22, 63});
    CHECK(values(sess.value(u)) == std::vector<double>{30, 120});
    sess.set_value(v, Tensor::from({21.f, 62.f}));
    sess.set_value(u, Tensor::from({10.f, 40.f}));
    // The session stays usable.
    sess.run({guarded}, {{labels, Tensor::from<std::int32_t>({1, 0})}});
    CHECK(sess.value(v).data<float>()[0] == doctest::Approx(21 + 2 * std::log1p(std::exp(-1.f))));
    // Two assigns to one variable in a run, and assigns that wait on each other, are refused.
    CHECK_ERROR(sess.run({assign(v, u), assign(v, u * 2.f)}), "variable \"v\" is assigned twice in one run");
    const Expr a1 = assign(v, u * 3.f);
    const Expr a2 = assign(u, a1 + v);  // reads v, which a1 (which it waits for) writes
    CHECK_ERROR(sess.run({a2}), "in a cycle");
}

TEST_CASE("Session: an assign's element-wise value is computed into the variable, with the same results") {
    Graph g;
    const Expr w = g.variable("w", Tensor::full({256, 256}, 1.0));
    const Expr v = g.variable("v", Tensor::full({256, 256}, 2.0));
    const Expr grad = g.placeholder("grad", {256, 256});
    const Expr read = sum(w * 1.f);                  // reads the old w
    const Expr update = assign(w, w - grad * 0.5f);  // sub: element-wise, read only by the assign
    const Expr swap_v = assign(v, v + w);            // reads w, which another assign writes: not in place
    Session sess(g);
    const Feeds feeds{{grad, Tensor::full({256, 256}, 2.0)}};
    // In place: the value needs no buffer of its own (the copy is gone).
    const PlanInfo alone = sess.plan_info({read}, feeds, {update});
    const PlanInfo copying = sess.plan_info({read, w - grad * 0.5f}, feeds, {});
    CHECK(alone.peak_bytes < copying.peak_bytes);
    const auto r = sess.run({read}, feeds, {update, swap_v});
    CHECK(r[0].item<float>() == 65536.f);          // before the update
    CHECK(sess.value(w).data<float>()[0] == 0.f);  // 1 - 2 * 0.5
    CHECK(sess.value(v).data<float>()[0] == 3.f);  // 2 + the old w
    // A failing kernel elsewhere in the run still leaves the variable untouched.
    const Expr bad = sum(
        sparse_softmax_cross_entropy(g.constant(Tensor::zeros({1, 2})), g.constant(Tensor::from<std::int32_t>({5}))));
    CHECK_ERROR(sess.run({bad}, feeds, {update}), "label 5 in row 0");
    CHECK(sess.value(w).data<float>()[0] == 0.f);
}

TEST_CASE("Session: values without elements, whatever their other dims, cost nothing") {
    // (2^62, 0) holds no element; kernels walking its 2^62 rows never ended (found by
    // fuzz_graph). Its sum is 0, its gradient empty, and the step runs.
    Graph g;
    const Expr v = g.variable("v", Tensor::from({2.f}));
    const Expr wide = broadcast_to(v, {1LL << 62, 0});
    const Expr loss = sum(wide) + sum(exp(wide) * wide) + sum(sum(wide, {0}));
    const Expr dv = gradients(loss, {v})[0];
    Session sess(g);
    const auto out = sess.run({wide, loss, dv}, {}, {assign(v, v - dv)});
    CHECK(out[0].shape() == Shape{1LL << 62, 0});
    CHECK(values(out[1]) == std::vector<double>{0});
    CHECK(values(out[2]) == std::vector<double>{0});
    CHECK(values(sess.value(v)) == std::vector<double>{2});
}

TEST_CASE("Session: set_value and value") {
    Graph g;
    const Expr w = g.variable("w", {2, 2}, init::zeros());
    const Expr x = g.placeholder("x", {2});
    Session sess(g);
    sess.set_value(w, Tensor::from({{1.f, 2.f}, {3.f, 4.f}}));
    CHECK(values(sess.run({sum(w)})[0]) == std::vector<double>{10});
    CHECK_ERROR(sess.set_value(w, Tensor::from({1.f, 2.f})), "variable \"w\" is f32 (2, 2), the value is f32 (2,)");
    CHECK_ERROR(sess.set_value(x, Tensor::from({1.f, 2.f})), "node \"x\" is a placeholder, not a variable");
    CHECK_ERROR(sess.value(x), "not a variable");
    // A variable made after the session starts from its initial value.
    const Expr late = g.variable("late", Tensor::from({5.f}));
    CHECK(values(sess.run({late})[0]) == std::vector<double>{5});
}

TEST_CASE("Session: feed errors name the placeholder, the fetch and the line of the run") {
    Graph g, other;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr y = g.placeholder("y", {batch, 3});
    const Expr w = g.variable("w", Tensor::from({1.f, 2.f, 3.f}));
    const Expr z = x + y * w;
    const Expr stranger = other.placeholder("stranger", {3});
    Session sess(g);
    const Tensor ok = Tensor::zeros({4, 3});
    const int line = __LINE__ + 1;
    const std::string missing = error_of([&] { sess.run({z}, {{x, ok}}); });
    CHECK(missing.rfind("Session::run (", 0) == 0);
    CHECK(missing.find(fmt::format("test_session.cpp:{}) fetching \"add\": ", line)) != std::string::npos);
    CHECK(missing.find("placeholder \"y\" f32 (batch, 3) is needed by fetch \"add\" but was not fed") !=
          std::string::npos);
    CHECK_ERROR(sess.run({sum(x), z * 2.f}, {{x, ok}}), "fetching \"sum\", \"mul_1\"", "needed by fetch \"mul_1\"");
    CHECK_ERROR(sess.run({sum(x)}, {{x, ok}}, {z}), "and 1 target", "needed by target \"add\"");
    CHECK_ERROR(sess.plan_info({z}, {{x, ok}}), "Session::plan_info (", "test_session.cpp");
    CHECK_ERROR(sess.run({z}, {{x, ok}, {y, Tensor::zeros({4, 2})}}),
                "placeholder \"y\" has shape (batch, 3) but was fed (4, 2)");
    CHECK_ERROR(sess.run({z}, {{x, ok}, {y, Tensor::zeros({4, 3}, DType::f64)}}),
                "placeholder \"y\" holds f32 but was fed f64");
    CHECK_ERROR(sess.run({z}, {{x, ok}, {y, Tensor::zeros({5, 3})}}),
                "placeholder \"y\" is fed a batch of 5 but placeholder \"x\" a batch of 4");
    CHECK_ERROR(sess.run({z}, {{x, ok}, {y, ok}, {x, ok}}), "placeholder \"x\" is fed twice");
    CHECK_ERROR(sess.run({z}, {{x, ok}, {w, Tensor::zeros({3})}}), "feed for \"w\": only placeholders can be fed");
    CHECK_ERROR(sess.run({z}, {{stranger, Tensor::zeros({3})}}), "node \"stranger\" belongs to another graph");
    CHECK_ERROR(sess.run({stranger}), "fetch", "node \"stranger\" belongs to another graph");
    CHECK_ERROR(sess.run({z}, {{x, Tensor()}, {y, ok}}), "feed for placeholder \"x\" is an empty tensor");
    CHECK_ERROR(Session(g, {.threads = -1}), "threads is -1");
    // After all that, the session works.
    CHECK(sess.run({z}, {{x, ok}, {y, ok}})[0].shape() == Shape{4, 3});
}

}  // namespace adjoint::test
