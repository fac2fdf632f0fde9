// Graph building: nodes, names, scopes, initializers, and the shape errors at build time.
#include <sstream>

#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("Graph: nodes know their op, inputs, dtype and shape; ids are a topological order") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w = g.variable("w", {3, 2}, init::glorot_uniform(1));
    const Expr y = matmul(x, w);
    CHECK(y.shape() == Shape{batch, 2});
    CHECK(y.dtype() == DType::f32);
    CHECK(y.node().kind == NodeKind::op);
    CHECK(y.node().op_name() == "matmul");
    CHECK(y.node().inputs == std::vector<NodeId>{x.id(), w.id()});
    CHECK(y.graph() == g);
    CHECK(g.size() == 3);
    CHECK(g.consumers(x.id()) == std::vector<NodeId>{y.id()});
    const Expr sq = x * x;  // the same input twice
    CHECK(sq.node().inputs == std::vector<NodeId>{x.id(), x.id()});
    CHECK(g.consumers(x.id()) == std::vector<NodeId>{y.id(), sq.id()});
}

TEST_CASE("Graph: names are unique, scoped, and default to the op") {
    Graph g;
    const Expr a = g.placeholder("x", {2});
    const Expr b = g.placeholder("x", {2});
    const Expr c = g.placeholder("x_1", {2});
    CHECK(a.name() == "x");
    CHECK(b.name() == "x_1");
    CHECK(c.name() == "x_1_1");
    CHECK(relu(a).name() == "relu");
    CHECK(relu(a).name() == "relu_1");
    {
        auto s = g.scope("dense");
        CHECK(relu(a).name() == "dense/relu");
        auto t = g.scope("inner");
        CHECK(exp(a).name() == "dense/inner/exp");
    }
    CHECK(exp(a).name() == "exp");
    CHECK((a + 1.f).node().inputs.size() == 2);
    CHECK_ERROR(g.scope("a/b"), "not a valid scope name");
}

TEST_CASE("Graph: initializers are seeded and follow Keras") {
    Graph g;
    const Expr w1 = g.variable("w1", {784, 512}, init::glorot_uniform(7));
    const Expr w2 = g.variable("w2", {784, 512}, init::glorot_uniform(7));
    const Expr w3 = g.variable("w3", {784, 512}, init::glorot_uniform(8));
    CHECK(bitwise_equal(w1.node().value, w2.node().value));
    CHECK(!bitwise_equal(w1.node().value, w3.node().value));
    const double limit = std::sqrt(6.0 / (784 + 512));
    double lo = 1, hi = -1, mean = 0;
    for (double v : values(w1.node().value)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        mean += v / (784.0 * 512);
    }
    CHECK(lo >= -limit);
    CHECK(hi < limit);
    CHECK(lo < -0.99 * limit);  // the whole range is used
    CHECK(std::abs(mean) < 1e-3);
    CHECK(values(g.variable("b", {3}, init::zeros()).node().value) == std::vector<double>{0, 0, 0});
    const Expr n = g.variable("n", {100000}, init::normal(1, 2, 3), DType::f64);
    double m = 0, var = 0;
    for (double v : values(n.node().value)) m += v / 100000;
    for (double v : values(n.node().value)) var += (v - m) * (v - m) / 100000;
    CHECK(m == doctest::Approx(1).epsilon(0.02));
    CHECK(std::sqrt(var) == doctest::Approx(2).epsilon(0.02));
    const Expr u = g.variable("u", {1000}, init::uniform(2, 3, 1));
    for (double v : values(u.node().value)) CHECK((v >= 2 && v < 3));
    CHECK_ERROR(g.variable("bad", {batch, 3}, init::zeros()), "variable \"bad\"", "may not have a batch dim");
    CHECK_ERROR(init::uniform(1, 1, 0), "low 1 is not below high 1");
}

TEST_CASE("Graph: shape mismatches are errors naming the op, the node, both shapes and the source line") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 784});
    const Expr w = g.variable("w", {512, 10}, init::zeros());
    const int line = __LINE__ + 1;
    const std::string msg = error_of([&] { (void)matmul(x, w); });
    CHECK(msg.find("matmul \"matmul\"") != std::string::npos);
    CHECK(msg.find("(batch, 784) x (512, 10): inner dimensions 784 and 512 differ") != std::string::npos);
    CHECK(msg.find(fmt::format("test_graph.cpp:{}", line)) != std::string::npos);
    {
        auto s = g.scope("h1");
        CHECK_ERROR(matmul(x, w), "matmul \"h1/matmul\"");
    }
    const Expr a = g.placeholder("a", {2, 3});
    const Expr b = g.placeholder("b", {4});
    CHECK_ERROR(a + b, "add \"add\" on (2, 3) f32, (4,) f32", "do not broadcast", "test_graph.cpp");
    CHECK_ERROR(x + g.placeholder("c", {5, 784}), "dim 0 is batch vs 5");
    const Expr i = g.placeholder("i", {2, 3}, DType::i32);
    CHECK_ERROR(a * i, "dtypes f32 and i32 differ");
    CHECK_ERROR(exp(i), "exp", "dtype i32; this op takes f32 or f64");
    CHECK_ERROR(transpose(b), "(4,) is not 2-D");
    CHECK_ERROR(reshape(a, {4, 2}), "cannot reshape (2, 3) (6 elements) to (4, 2) (8 elements)");
    CHECK_ERROR(reshape(x, {784}), "the batch dim must stay one dim of its own");
    // A target whose element count overflows is refused, not wrapped around (found by
    // fuzz_graph: 2^31 x 2^32 x 2^31 wrapped to a small count).
    CHECK_ERROR(reshape(a, {1LL << 31, 1LL << 32, 1LL << 31}), "reshape", "element count overflows", "test_graph.cpp");
    CHECK_ERROR(reshape(x, {batch, 1LL << 62, 4}), "element count overflows");
    CHECK_ERROR(g.placeholder("p2", {3, batch}), "placeholder \"p2\": shape (3, batch) has batch at dim 1");
    CHECK_ERROR(sum(a, {2}), "axis 2 is out of range for rank 2");
    CHECK_ERROR(sum(a, {1, -1}), "axis -1 is repeated");
    CHECK_ERROR(broadcast_to(a, {3, 3}), "do not broadcast");
    CHECK_ERROR(sparse_softmax_cross_entropy(a, g.placeholder("l4", {4}, DType::i32)),
                "need labels of shape (2,), got (4,)");
    CHECK_ERROR(sparse_softmax_cross_entropy(a, g.placeholder("l", {2})), "labels have dtype f32");
    CHECK_ERROR(softmax_cross_entropy(a, g.placeholder("p", {2, 4})), "differ in shape");
    CHECK_ERROR(assign(a, a), "assign: \"a\" is a placeholder, not a variable");
    CHECK_ERROR(assign(w, g.placeholder("v", {batch, 10})), "the variable is (512, 10) but the value is (batch, 10)");
    CHECK_ERROR(pow(a, INFINITY), "exponent inf is not finite");
    CHECK_ERROR(max(g.placeholder("e", {0, 3}), {0}), "max over axis 0 of (0, 3), which is empty");
    // Shapes whose element or byte counts overflow are refused where they are made, or at
    // the run that gives them their batch size, naming the node.
    CHECK_ERROR(g.variable("huge", {784, 1LL << 62}, init::zeros()), "(784, 4611686018427387904)", "overflows");
    CHECK_ERROR(broadcast_to(g.constant(Tensor::scalar(1.f)), {1LL << 32, 1LL << 32}), "broadcast_to \"broadcast_to",
                "element count overflows", "test_graph.cpp");
    const Expr labels = g.placeholder("labels", {batch}, DType::i32);
    const Expr wide = one_hot(labels, 1LL << 62);
    Session sess(g);
    CHECK_ERROR(sess.run({wide}, {{labels, Tensor::from<std::int32_t>({0, 1})}}), "one_hot \"one_hot\"",
                "(2, 4611686018427387904)", "overflows");
    // A product whose packing workspace overflows a byte count: refused when planned,
    // naming the node.
    const Expr one = g.constant(Tensor::scalar(1.f));
    const Expr long_product = matmul(broadcast_to(one, {1, 1LL << 60}), broadcast_to(one, {1LL << 60, 1}));
    CHECK_ERROR(sess.run({long_product}), "matmul \"matmul\"", "test_graph.cpp", "its workspace",
                "overflows a 64-bit byte count");
    // A failed node leaves the graph as it was.
    const std::size_t before = g.size();
    CHECK_ERROR(a + b, "do not broadcast");
    CHECK(g.size() == before);
}

TEST_CASE("Graph: nodes of another graph and empty handles are refused") {
    Graph g, h;
    const Expr x = g.placeholder("x", {2});
    const Expr y = h.placeholder("y", {2});
    CHECK_ERROR(x + y, "node \"y\" belongs to another graph");
    CHECK_ERROR(relu(Expr{}), "relu (", "test_graph.cpp", "input 0 is an empty Expr");
    CHECK_ERROR(x + Expr{}, "add (", "input 1 is an empty Expr");
    CHECK_ERROR(g.node(99), "node id 99 is not in this graph of 1 nodes");
}

namespace {

// A graph built in a function and returned with one of its nodes.
std::pair<Graph, Expr> make_model() {
    Graph g;
    const Expr x = g.placeholder("x", {2});
    return {g, relu(x * 2.f)};
}

}  // namespace

TEST_CASE("Graph: a handle; returned from functions, moved, and outlived by its Exprs and Sessions") {
    // Returned from a function: its nodes, and new ones, work.
    auto [g, y] = make_model();
    CHECK(g.size() == 4);
    CHECK(y.graph() == g);
    const Expr x = g.expr(0);
    Session sess(g);
    CHECK(values(sess.run({y + 1.f}, {{x, Tensor::from({-1.f, 3.f})}})[0]) == std::vector<double>{1, 7});
    // Copies share one graph: a node added through either shows in both.
    Graph same = g;
    CHECK(same == g);
    (void)same.placeholder("z", {1});
    CHECK(g.size() == same.size());
    CHECK(!(Graph() == g));
    // Moved: the new handle has the graph; the old one refuses, clearly.
    Graph moved = std::move(same);
    CHECK(moved == g);
    CHECK_ERROR(same.placeholder("w", {1}), "this handle was moved from");  // NOLINT(bugprone-use-after-move)
    CHECK_ERROR((void)same.size(), "moved from");                           // NOLINT(bugprone-use-after-move)
    // Exprs and Sessions outlive every Graph variable: the nodes live as long as they do.
    Expr survivor;
    std::unique_ptr<Session> kept;
    {
        Graph scratch;
        const Expr a = scratch.placeholder("a", {2});
        survivor = exp(a) * 2.f;
        kept = std::make_unique<Session>(scratch);
    }
    CHECK(survivor.name() == "mul");
    const Expr more = survivor + 1.f;  // ops still append to it
    CHECK(more.graph().size() == 6);
    const Expr a = more.graph().expr(0);
    CHECK(values(kept->run({more}, {{a, Tensor::from({0.f, 0.f})}})[0]) == std::vector<double>{3, 3});
    // A Node& stays valid while the graph grows (nodes never move).
    const Node& first = g.node(0);
    for (int i = 0; i < 2000; ++i) (void)relu(x);
    CHECK(first.name == "x");
    CHECK(&first == &g.node(0));
    // Sessions move too; the moved-from one refuses.
    Session moved_session = std::move(*kept);
    CHECK(values(moved_session.run({more}, {{a, Tensor::from({0.f, 0.f})}})[0]) == std::vector<double>{3, 3});
    CHECK_ERROR(kept->run({more}), "this Session was moved from");  // NOLINT(bugprone-use-after-move)
}

}  // namespace adjoint::test
