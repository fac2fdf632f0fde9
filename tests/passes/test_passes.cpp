// Each pass: what it removes or rewrites (node counts, ops, the log) and that the rewritten
// graph computes what the original did, bit for bit, or within the documented rounding.
#include <algorithm>
#include <limits>

#include "../helpers.hpp"

using namespace adjoint;
using adjoint::test::bitwise_equal;
using adjoint::test::random_tensor;
namespace ps = adjoint::passes;

namespace {

using PassFn = ps::Rewritten (*)(const Graph&, std::span<const Expr>);

// The roots' values before and after, from the same feeds (placeholders of the original).
struct BeforeAfter {
    std::vector<Tensor> before, after;
};
BeforeAfter run_both(const ps::Rewritten& r, const std::vector<Expr>& roots, const Feeds& feeds) {
    Session a(r.from, {.threads = 2}), b(r.graph, {.threads = 2});
    Feeds mapped;
    for (const Feed& f : feeds) mapped.push_back({r[f.node], f.value});
    return {a.run(roots, feeds), b.run(r.roots, mapped)};
}

std::size_t count_op(const Graph& g, std::string_view op) {
    std::size_t n = 0;
    for (NodeId i = 0; i < g.size(); ++i) n += g.node(i).op_name() == op;
    return n;
}

bool log_has(const ps::Rewritten& r, std::string_view text) {
    for (const auto& log : r.logs)
        for (const auto& line : log.lines)
            if (line.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("dead-nodes: keeps what the roots need, in order, with names and provenance") {
    Graph g;
    Expr x = g.placeholder("x", {batch, 3});
    Expr unused = g.placeholder("unused", {2});
    Expr w = g.variable("w", {3, 2}, init::constant(0.5));
    Expr y = matmul(x, w);
    Expr side = exp(y);  // no root needs it
    Expr loss = sum(square(y));
    const std::vector<Expr> wrt{w};
    Expr dw = gradients(loss, wrt)[0];
    (void)unused;
    (void)side;
    const ps::Rewritten r = ps::eliminate_dead_nodes(g, std::vector{loss, dw});
    CHECK(r.graph.size() == g.size() - 1);
    CHECK(r.graph.find("unused"));  // placeholders and variables stay
    CHECK_FALSE(r.graph.find("exp"));
    CHECK(log_has(r, "removed exp (exp): the roots do not need it"));
    CHECK(r[w].name() == "w");
    CHECK_ERROR(r[side], "\"exp\" is not in the rewritten graph");
    // Gradient nodes keep their provenance, pointing at the forward node's copy.
    const Node& gd = r[dw].node();
    REQUIRE(gd.gradient_of);
    CHECK(r.graph.node(gd.gradient_of->forward).name == g.node(dw.node().gradient_of->forward).name);
    const auto out = run_both(r, {loss, dw}, {{x, random_tensor({4, 3}, DType::f32, -1, 1, 1)}});
    CHECK(bitwise_equal(out.before[0], out.after[0]));
    CHECK(bitwise_equal(out.before[1], out.after[1]));
    // The input graph is untouched, and a root of another graph is refused.
    CHECK(g.find("exp"));
    Graph other;
    Expr o = other.placeholder("o", {1});
    CHECK_ERROR(ps::eliminate_dead_nodes(g, std::vector{o}), "belongs to another graph");
}

TEST_CASE("fold: ops of constants become one constant, with the kernel's own bits") {
    Graph g;
    Expr x = g.placeholder("x", {batch, 3});
    Expr c = g.constant("c", Tensor::from({0.1f, 0.2f, 0.3f}));
    Expr k = exp(c) * 3.f + sqrt(c);                                              // all constant
    Expr y = x * k;                                                               // not: x is fed
    Expr big = broadcast_to(g.constant("s", Tensor::scalar(1.f)), {1024, 1024});  // 4 MiB from 4 bytes
    Expr z = sum(big);
    // Empty, with rows past any loop: a run never computes it, nor does the pass.
    Expr nothing = sum(broadcast_to(g.constant("e", Tensor::scalar(2.f)), {std::int64_t{1} << 62, 0}));
    const ps::Rewritten r = ps::fold_constants(g, std::vector{y, z, nothing});
    CHECK(count_op(r.graph, "exp") == 0);
    CHECK(count_op(r.graph, "sqrt") == 0);
    CHECK(count_op(r.graph, "add") == 0);
    CHECK(count_op(r.graph, "mul") == 1);           // x * k
    CHECK(count_op(r.graph, "broadcast_to") == 2);  // too big to store; empty
    CHECK(log_has(r, "folded add (add of 2 constants) into a constant f32 (3,)"));
    const auto out = run_both(r, {y, z, nothing}, {{x, random_tensor({5, 3}, DType::f32, -1, 1, 2)}});
    for (std::size_t i = 0; i < 3; ++i) CHECK(bitwise_equal(out.before[i], out.after[i]));
}

TEST_CASE("simplify: identities go, the bits stay") {
    Graph g;
    Expr x = g.placeholder("x", {batch, 4});
    Expr ones = g.constant("ones", Tensor::full({4}, 1.0));
    Expr zeros = g.constant("zeros", Tensor::full({4}, 0.0));
    Expr a = x * 1.f;
    Expr b = 1.f * a;
    Expr c = b / 1.f;
    Expr d = (c - 0.f) * ones;  // ones (4,) broadcasts to x's shape: x keeps it
    Expr e = -(-d);
    Expr f = transpose(transpose(e));
    Expr h = reshape(reshape(f, {batch, 2, 2}), {batch, 4});
    Expr i = cast(reshape(h, {batch, 1, 4}), DType::f32);
    Expr v = g.placeholder("v", {4});
    Expr wide = v * g.constant("ones2", Tensor::full({3, 4}, 1.0));  // v (4,) broadcasts to (3, 4)
    (void)zeros;
    const ps::Rewritten r = ps::simplify(g, std::vector{i, wide});
    // What stays of the chain: one reshape of x; and wide's mul, which broadcasts.
    CHECK(count_op(r.graph, "mul") == 1);
    CHECK(count_op(r.graph, "div") == 0);
    CHECK(count_op(r.graph, "sub") == 0);
    CHECK(count_op(r.graph, "neg") == 0);
    CHECK(count_op(r.graph, "transpose") == 0);
    CHECK(count_op(r.graph, "cast") == 0);
    CHECK(count_op(r.graph, "reshape") == 1);
    CHECK(log_has(r, "x * 1 = x"));
    CHECK(log_has(r, "1 * x = x"));
    CHECK(log_has(r, "-(-x) = x"));
    CHECK(log_has(r, "transpose(transpose(x)) = x"));
    CHECK(log_has(r, "reshape(reshape(x)) to x's own shape"));
    Tensor xs = adjoint::test::edge_tensor({6, 4}, DType::f32, 3, 4);
    const auto out = run_both(r, {i, wide}, {{x, xs}, {v, adjoint::test::edge_tensor({4}, DType::f32, 5, 2)}});
    CHECK(adjoint::test::same_bits_or_nan(out.before[0], out.after[0]));
    CHECK(adjoint::test::same_bits_or_nan(out.before[1], out.after[1]));
}

TEST_CASE("simplify: x + (-0.0) goes, x + (+0.0) stays: the sign of a zero reaches 1 / x") {
    constexpr float inf = std::numeric_limits<float>::infinity();
    Graph g;
    Expr x = g.placeholder("x", {6});
    Expr kept = 1.f / (x + 0.f);            // -0 + +0 = +0: 1 / x would be -inf where this is +inf
    Expr gone = 1.f / (-0.f + (x + -0.f));  // -0 + -0 = -0, +0 + -0 = +0: x itself, for every x
    Expr minus = 1.f / (x - 0.f);           // x - (+0) = x + (-0)
    Expr wide = x + g.constant(Tensor::full({2, 6}, -0.0, DType::f32));  // broadcasts x: stays
    const ps::Rewritten r = ps::simplify(g, std::vector{kept, gone, minus, wide});
    CHECK(count_op(r.graph, "add") == 2);  // x + 0.f and the broadcast
    CHECK(count_op(r.graph, "sub") == 0);
    CHECK(log_has(r, "x + (-0) = x"));
    CHECK(log_has(r, "(-0) + x = x"));
    CHECK(log_has(r, "x - (+0) = x"));
    const Tensor xs = Tensor::from({-0.f, 0.f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1.5f});
    const auto out = run_both(r, {kept, gone, minus, wide}, {{x, xs}});
    for (std::size_t i = 0; i < 4; ++i) CHECK(adjoint::test::same_bits_or_nan(out.before[i], out.after[i]));
    CHECK(out.after[0].data<float>()[0] == inf);   // 1 / (-0 + +0)
    CHECK(out.after[1].data<float>()[0] == -inf);  // 1 / -0
    CHECK(out.after[2].data<float>()[0] == -inf);
}

TEST_CASE("cse: equal ops and constants merge; updates never do") {
    Graph g;
    Expr x = g.placeholder("x", {batch, 3});
    Expr w = g.variable("w", {3}, init::constant(1.0));
    Expr s1 = sum(x * w);
    Expr s2 = sum(w * x);  // commuted: the same bits
    Expr c1 = g.constant("c1", Tensor::from({1.f, 2.f, 3.f}));
    Expr c2 = g.constant("c2", Tensor::from({1.f, 2.f, 3.f}));
    Expr m1 = max(x + c1, {1});
    Expr m2 = max(x + c2, {1});
    Expr m3 = max(x + c1, {0});  // other attributes
    Expr loss = s1 + s2 + sum(m1) + sum(m2) + sum(m3);
    const ps::Rewritten r = ps::eliminate_common_subexpressions(g, std::vector{loss});
    CHECK(count_op(r.graph, "constant") == 1);
    CHECK(count_op(r.graph, "max") == 2);
    CHECK(log_has(r, "merged mul_1 into mul: the same op, attributes and inputs"));
    CHECK(log_has(r, "merged c2 into c1: an equal constant"));
    // Two writers of one variable cannot run together, but they are never merged either.
    Expr u1 = assign(w, w * 0.5f);
    Expr u2 = assign(w, w * 0.5f);
    const ps::Rewritten ru = ps::eliminate_common_subexpressions(g, std::vector{u1, u2});
    CHECK(count_op(ru.graph, "assign") == 2);
    CHECK(count_op(ru.graph, "mul") == 1);
    CHECK(r[s2] == r[s1]);
    const Tensor xs = random_tensor({7, 3}, DType::f32, -1, 1, 3);
    const auto out = run_both(r, {loss}, {{x, xs}});
    CHECK(bitwise_equal(out.before[0], out.after[0]));
}

TEST_CASE("fuse: relu(matmul + bias) becomes Dense's matmul_bias, with the same bits") {
    for (const bool ta : {false, true})
        for (const bool bias_first : {false, true}) {
            CAPTURE(ta);
            CAPTURE(bias_first);
            Graph g;
            Expr x = g.placeholder("x", ta ? Shape{5, 9} : Shape{batch, 5});
            Expr w = g.variable("w", {5, 6}, init::glorot_uniform(1));
            Expr b = g.variable("b", {6}, init::glorot_uniform(2));
            Expr p = matmul(x, w, {.a = ta, .b = false});
            Expr y = relu(bias_first ? b + p : p + b);
            const ps::Rewritten r = ps::fuse(g, std::vector{y});
            REQUIRE(r.graph.size() == 4);
            const Node& f = r.roots[0].node();
            const auto* m = ops::as<ops::MatMulBias>(f);
            REQUIRE(m);
            CHECK(m->relu);
            CHECK(m->transpose_a == ta);
            CHECK(f.name == "matmul_bias");
            CHECK(log_has(r, "fused matmul, add into matmul_bias"));
            CHECK(log_has(r, "fused add, relu into matmul_bias = matmul_bias[" +
                                 std::string(ta ? "transpose_a relu" : "relu") + "]"));
            const Tensor xs = adjoint::test::edge_tensor(ta ? Shape{5, 9} : Shape{9, 5}, DType::f32, 5, 8);
            const auto out = run_both(r, {y}, {{x, xs}});
            CHECK(adjoint::test::same_bits_or_nan(out.before[0], out.after[0]));
        }
}

TEST_CASE("fuse: a node something else reads is not fused away") {
    Graph g;
    Expr x = g.placeholder("x", {batch, 5});
    Expr w = g.variable("w", {5, 6}, init::glorot_uniform(1));
    Expr b = g.variable("b", {6}, init::zeros());
    Expr p = matmul(x, w);
    Expr y = relu(p + b);
    Expr loss = sum(y) + sum(p);  // p is read twice
    const ps::Rewritten r = ps::fuse(g, std::vector{loss});
    CHECK(count_op(r.graph, "matmul_bias") == 0);
    CHECK(count_op(r.graph, "matmul") == 1);
    // A bias of another shape is no bias: (1, 6) broadcasts, matmul_bias takes (6,).
    Graph h;
    Expr hx = h.placeholder("x", {batch, 5});
    Expr hw = h.variable("w", {5, 6}, init::glorot_uniform(1));
    Expr hb = h.variable("b", {1, 6}, init::zeros());
    const ps::Rewritten r2 = ps::fuse(h, std::vector{matmul(hx, hw) + hb});
    CHECK(count_op(r2.graph, "matmul_bias") == 0);
}

TEST_CASE("fuse: -sum(t * log(softmax(z))) becomes the softmax cross-entropy on the logits") {
    for (const bool sparse : {false, true}) {
        CAPTURE(sparse);
        Graph g;
        Expr z = g.placeholder("z", {batch, 4});
        Expr labels = g.placeholder("labels", {batch}, DType::i32);
        Expr onehot = g.placeholder("t", {batch, 4});
        Expr t = sparse ? one_hot(labels, 4) : onehot;
        Expr p = softmax(z);
        Expr ce = -sum(log(p) * t, {-1});
        Expr guess = argmax(p);  // softmax stays for this reader
        const ps::Rewritten r = ps::fuse(g, std::vector{ce, guess});
        CHECK(count_op(r.graph, sparse ? "sparse_softmax_cross_entropy" : "softmax_cross_entropy") == 1);
        CHECK(count_op(r.graph, "log") == 0);
        CHECK(count_op(r.graph, "one_hot") == 0);
        CHECK(count_op(r.graph, "softmax") == 1);
        Tensor zs = random_tensor({6, 4}, DType::f32, -3, 3, 4);
        Tensor ls = Tensor::from<std::int32_t>({0, 3, 1, 2, 2, 0});
        Tensor ts = Tensor::zeros({6, 4});
        for (int i = 0; i < 6; ++i) ts.data<float>()[i * 4 + ls.data<std::int32_t>()[i]] = 1;
        Feeds feeds = {{z, zs}};
        feeds.push_back({sparse ? labels : onehot, sparse ? ls : ts});
        const auto out = run_both(r, {ce, guess}, feeds);
        CHECK(adjoint::test::max_rel_diff(out.after[0], out.before[0]) < 1e-6);
        CHECK(bitwise_equal(out.before[1], out.after[1]));
        // Where softmax underflows, the composite is infinite and the fused op is not.
        Tensor far = Tensor::zeros({6, 4});
        far.data<float>()[0] = 200;  // row 0's label is class 0 ...
        far.data<float>()[5] = 200;  // ... row 1's is 3: p = exp(-200) = 0 in f32
        feeds[0].value = far;
        const auto edge = run_both(r, {ce}, feeds);
        CHECK_FALSE(std::isfinite(edge.before[0].data<float>()[1]));  // 0 * log(0) is NaN
        CHECK(edge.after[0].data<float>()[1] == doctest::Approx(200));
    }
}

TEST_CASE("passes: what a review found") {
    // x - (-0.0) is x + 0, which makes -0.0 into +0.0: not simplified.
    {
        Graph g;
        Expr x = g.placeholder("x", {2});
        Expr y = x - g.constant("mz", Tensor::from({-0.f, -0.f}));
        const ps::Rewritten r = ps::simplify(g, std::vector{y});
        CHECK(count_op(r.graph, "sub") == 1);
        const auto out = run_both(r, {y}, {{x, Tensor::from({-0.f, 1.f})}});
        CHECK(bitwise_equal(out.before[0], out.after[0]));
    }
    // A fused node never takes the name of a node that is kept.
    {
        Graph g;
        Expr x = g.placeholder("x", {batch, 3});
        Expr w1 = g.variable("w1", {3, 4}, init::glorot_uniform(1));
        Expr b1 = g.variable("b1", {4}, init::zeros());
        Expr w2 = g.variable("w2", {4, 2}, init::glorot_uniform(2));
        Expr b2 = g.variable("b2", {2}, init::zeros());
        Expr out = matmul_bias(relu(matmul(x, w1) + b1), w2, b2);  // the user's own "matmul_bias"
        REQUIRE(out.name() == "matmul_bias");
        const ps::Rewritten r = ps::fuse(g, std::vector{out});
        CHECK(r[out].name() == "matmul_bias");
        CHECK(r.graph.find("matmul_bias_1"));
    }
    // x * 1 -> x: the mul's gradient nodes lose their provenance rather than name x.
    {
        Graph g;
        Expr x = g.variable("x", {2}, init::constant(3));
        Expr y = x * 1.f;
        Expr loss = sum(square(y));
        const std::vector<Expr> wrt{x};
        Expr dx = gradients(loss, wrt)[0];
        const ps::Rewritten r = ps::simplify(g, std::vector{loss, dx});
        for (NodeId id = 0; id < r.graph.size(); ++id) {
            const Node& n = r.graph.node(id);
            if (n.gradient_of) CHECK(r.graph.node(n.gradient_of->forward).op_name() != "variable");
        }
    }
    // No passes: a copy all the same, which gradients may grow without touching g.
    {
        Graph g;
        Expr x = g.variable("x", {2}, init::constant(3));
        Expr loss = sum(square(x));
        const ps::Rewritten r = ps::optimize(g, std::vector{loss}, {.passes = {}, .dump_dir = ""});
        CHECK_FALSE(r.graph == g);
        const std::size_t before = g.size();
        const std::vector<Expr> wrt{r[x]};
        (void)gradients(r.roots[0], wrt);
        CHECK(g.size() == before);
        CHECK(r.graph.size() > before);
    }
}
