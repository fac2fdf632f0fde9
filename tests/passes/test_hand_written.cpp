// The passes' promise: an MLP written op by op, as a user would write it from the maths,
// gets the graph Sequential builds: the same plan steps and the same bits, step after step.
#include "../helpers.hpp"

using namespace adjoint;
namespace ps = adjoint::passes;

namespace {

struct HandWritten {
    Graph g;
    Expr x, t, loss;
    std::vector<Expr> weights;
};

// 20 -> 32 (relu) -> 5 (softmax), categorical cross-entropy, from the maths; the weights
// start where the Sequential model's do.
HandWritten hand_written(const Graph& model) {
    HandWritten h;
    Graph& g = h.g;
    auto start = [&](const char* name) { return g.variable(name, model.find(name)->node().value); };
    h.x = g.placeholder("input", {batch, 20});
    h.t = g.placeholder("targets", {batch, 5});
    Expr w1 = start("dense/kernel"), b1 = start("dense/bias");
    Expr w2 = start("dense_1/kernel"), b2 = start("dense_1/bias");
    Expr hidden, y;
    {
        auto s = g.scope("dense");
        hidden = relu(matmul(h.x, w1) + b1);
    }
    {
        auto s = g.scope("dense_1");
        y = softmax(matmul(hidden, w2) + b2);
    }
    auto s = g.scope("loss");
    h.loss = mean(-sum(h.t * log(y), {-1}));
    h.weights = {w1, b1, w2, b2};
    return h;
}

}  // namespace

TEST_CASE("a hand-written MLP, through the passes, trains like Sequential: same plan, same bits") {
    Sequential model({.seed = 7, .threads = 2});
    model.add(Dense(32, "relu", 20));
    model.add(Dense(5, "softmax"));
    model.compile(RMSprop(), "categorical_crossentropy");

    HandWritten h = hand_written(model.graph());
    const ps::Rewritten r = ps::optimize(h.g, std::vector{h.loss});
    Graph g = r.graph;
    std::vector<Expr> weights;
    for (const Expr& w : h.weights) weights.push_back(r[w]);
    const Expr loss = r.roots[0];
    const std::vector<Expr> updates = RMSprop().apply(g, weights, gradients(loss, weights));
    Session sess(g, {.threads = 2});

    const Tensor xs = adjoint::test::random_tensor({16, 20}, DType::f32, -1, 1, 11);
    Tensor ts = Tensor::zeros({16, 5});
    for (int i = 0; i < 16; ++i) ts.data<float>()[i * 5 + (i * 7) % 5] = 1;
    const Feeds mine{{r[h.x], xs}, {r[h.t], ts}};
    const Feeds theirs{{model.input(), xs}, {model.targets(), ts}};

    // Without the passes the hand-written step has more steps; with them, as many as Sequential's.
    const std::vector<Expr> raw_weights = h.weights;
    const std::vector<Expr> raw_updates = RMSprop().apply(h.g, raw_weights, gradients(h.loss, raw_weights));
    Session raw(h.g, {.threads = 2});
    const std::size_t raw_steps = raw.plan_info({h.loss}, {{h.x, xs}, {h.t, ts}}, raw_updates).steps;
    const std::size_t steps = sess.plan_info({loss}, mine, updates).steps;
    const std::size_t sequential_steps =
        model.session().plan_info(model.train_fetches(), theirs, model.train_updates()).steps;
    CHECK(steps == sequential_steps);
    CHECK(raw_steps > steps);
    MESSAGE("training step: " << raw_steps << " plan steps as written, " << steps << " after the passes, "
                              << sequential_steps << " for Sequential");

    for (int step = 0; step < 3; ++step) {
        const Tensor a = sess.run({loss}, mine, updates)[0];
        const Tensor b = model.session().run(model.train_fetches(), theirs, model.train_updates())[0];
        CHECK(adjoint::test::bitwise_equal(a, b));
    }
    for (std::size_t i = 0; i < weights.size(); ++i)
        CHECK(
            adjoint::test::bitwise_equal(sess.value(weights[i]), model.session().value(model.trainable_weights()[i])));
}
