// Matrix product, layout ops, cast, stop_gradient and assign.
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include <adjoint/passes/passes.hpp>

#include "op_cases.hpp"

namespace adjoint::test {

namespace {
using Exprs = std::span<const Expr>;
}

template <> void op_case<ops::MatMul>() {
    const Tensor out =
        eval([](Exprs e) { return matmul(e[0], e[1]); },
             {Tensor::from({{1.f, 2.f}, {3.f, 4.f}}), Tensor::from({{5.f, 6.f, 7.f}, {8.f, 9.f, 10.f}})});
    CHECK(out.shape() == Shape{2, 3});
    CHECK(values(out) == std::vector<double>{21, 24, 27, 47, 54, 61});
    auto g = [](Exprs e) { return matmul(e[0], e[1]); };
    // The network's shapes, and odd ones that do not divide the tiles. In f32 the packed
    // kernel (FMA, blocked) and the triple loop round differently: |error| <= K eps |a||b|,
    // about 5e-5 relative for K = 784.
    agrees_with_reference(g, {{Shape{batch, 784}}, {Shape{784, 64}}}, 1e-4);
    agrees_with_reference(g, {{Shape{batch, 512}}, {Shape{512, 10}}}, 1e-4);
    agrees_with_reference(g, {{Shape{37, 300}, DType::f64}, {Shape{300, 261}, DType::f64}}, 0);
    // A of more than 2^20 elements with rows 4 KiB apart is packed rather than read in
    // place (gemm.cpp): both ways, f64 (exact order) and f32 (the AVX2 kernel), with a
    // partial last panel; and one read in place (rows 4,000 bytes apart).
    agrees_with_reference(g, {{Shape{1051, 1024}, DType::f64}, {Shape{1024, 20}, DType::f64}}, 0);
    agrees_with_reference([](Exprs e) { return matmul(e[0], e[1], {.a = true}); },
                          {{Shape{1024, 1051}, DType::f64}, {Shape{1024, 20}, DType::f64}}, 0);
    agrees_with_reference(g, {{Shape{1051, 1024}}, {Shape{1024, 33}}}, 1e-4);
    agrees_with_reference(g, {{Shape{1051, 1000}}, {Shape{1000, 33}}}, 1e-4);
    check_op_gradients(g, {{Shape{3, 4}}, {Shape{4, 5}}});
    // Either operand read transposed, without a transposed copy: values, the reference,
    // and gradients (whose rules use the flags too).
    const Tensor a = Tensor::from({{1.f, 2.f}, {3.f, 4.f}}), b = Tensor::from({{5.f, 6.f}, {7.f, 8.f}});
    CHECK(values(eval([](Exprs e) { return matmul(e[0], e[1], {.a = true}); }, {a, b})) ==
          std::vector<double>{26, 30, 38, 44});
    CHECK(values(eval([](Exprs e) { return matmul(e[0], e[1], {.b = true}); }, {a, b})) ==
          std::vector<double>{17, 23, 39, 53});
    CHECK(values(eval([](Exprs e) { return matmul(e[0], e[1], {.a = true, .b = true}); }, {a, b})) ==
          std::vector<double>{23, 31, 34, 46});
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            CAPTURE(ta);
            CAPTURE(tb);
            auto t = [&](Exprs e) { return matmul(e[0], e[1], {.a = ta, .b = tb}); };
            agrees_with_reference(t,
                                  {{ta ? Shape{300, 37} : Shape{37, 300}, DType::f64},
                                   {tb ? Shape{29, 300} : Shape{300, 29}, DType::f64}},
                                  1e-12);
            agrees_with_reference(t, {{ta ? Shape{784, 96} : Shape{96, 784}}, {tb ? Shape{70, 784} : Shape{784, 70}}},
                                  1e-4);
            check_op_gradients(t, {{ta ? Shape{4, 3} : Shape{3, 4}}, {tb ? Shape{5, 4} : Shape{4, 5}}});
        }
    CHECK_ERROR(
        eval([](Exprs e) { return matmul(e[0], e[1], {.a = true}); }, {Tensor::zeros({2, 3}), Tensor::zeros({3, 2})}),
        "(2, 3)^T x (3, 2): inner dimensions 2 and 3 differ");
}

template <> void op_case<ops::MatMulBias>() {
    const Tensor x = Tensor::from({{1.f, 2.f}, {3.f, 4.f}}), w = Tensor::from({{1.f, -1.f, 0.f}, {0.f, -1.f, 1.f}});
    const Tensor b = Tensor::from({0.5f, 0.5f, -4.f});
    // x w = [[1, -3, 2], [3, -7, 4]]; + b = [[1.5, -2.5, -2], [3.5, -6.5, 0]]
    CHECK(values(eval([](Exprs e) { return matmul_bias(e[0], e[1], e[2]); }, {x, w, b})) ==
          std::vector<double>{1.5, -2.5, -2, 3.5, -6.5, 0});
    CHECK(values(eval([](Exprs e) { return matmul_bias(e[0], e[1], e[2], true); }, {x, w, b})) ==
          std::vector<double>{1.5, 0, 0, 3.5, 0, 0});
    // The same bits as matmul, add and relu, at the network's shapes and at odd ones, with
    // ordinary values and with NaN, +-inf, -0.0 and denormals among them (about one row
    // or column in four meets one), in f32 and f64.
    for (const auto& mkn : {std::array<std::int64_t, 3>{128, 784, 512}, {37, 300, 261}, {96, 512, 10}, {7, 5, 9}})
        for (bool relu_ : {false, true})
            for (bool ta : {false, true})
                for (bool edges : {false, true})
                    for (DType dt : {DType::f32, DType::f64}) {
                        const std::int64_t m = mkn[0], k = mkn[1], n = mkn[2];
                        INFO("m=", m, " n=", n, " relu=", relu_, " ta=", ta, " edges=", edges, " ", dtype_name(dt));
                        Graph g;
                        const Expr a = g.placeholder("a", ta ? Shape{k, m} : Shape{m, k}, dt);
                        const Expr wv = g.placeholder("w", {k, n}, dt), bias = g.placeholder("b", {n}, dt);
                        const Expr fused = matmul_bias(a, wv, bias, relu_, {.a = ta});
                        const Expr sum_ = matmul(a, wv, {.a = ta}) + bias;
                        const Expr plain = relu_ ? relu(sum_) : sum_;
                        auto input = [&](const Expr& e, std::uint64_t seed, int every) {
                            return edges ? edge_tensor(e.shape(), dt, seed, every)
                                         : random_tensor(e.shape(), dt, -1, 1, seed);
                        };
                        const Feeds feeds{{a, input(a, 1, static_cast<int>(4 * k))},
                                          {wv, input(wv, 2, static_cast<int>(4 * k))},
                                          {bias, input(bias, 3, 4)}};
                        Session sess(g, {.threads = 2});
                        const auto r = sess.run({fused, plain}, feeds);
                        CHECK(same_bits_or_nan(r[0], r[1]));
                    }
    // relu keeps NaN in the fused epilogue as it does alone (a NaN input row stays NaN).
    {
        const Tensor xs = Tensor::from({{NAN, 1.f}, {1.f, 1.f}}), ws = Tensor::from({{1.f}, {-1.f}});
        const std::vector<double> y =
            values(eval([](Exprs e) { return matmul_bias(e[0], e[1], e[2], true); }, {xs, ws, Tensor::from({0.f})}));
        CHECK(std::isnan(y[0]));
        CHECK(y[1] == 0);
    }
    agrees_with_reference([](Exprs e) { return matmul_bias(e[0], e[1], e[2], true); },
                          {{Shape{batch, 300}}, {Shape{300, 70}}, {Shape{70}}}, 1e-4);
    agrees_with_reference([](Exprs e) { return matmul_bias(e[0], e[1], e[2], true, {.b = true}); },
                          {{Shape{37, 300}, DType::f64}, {Shape{61, 300}, DType::f64}, {Shape{61}, DType::f64}}, 0);
    for (bool relu_ : {false, true})
        check_op_gradients([=](Exprs e) { return matmul_bias(e[0], e[1], e[2], relu_); },
                           {{Shape{3, 4}}, {Shape{4, 5}}, {Shape{5}}});
    check_op_gradients([](Exprs e) { return matmul_bias(e[0], e[1], e[2], true, {.a = true, .b = true}); },
                       {{Shape{4, 3}}, {Shape{5, 4}}, {Shape{5}}});
    Graph g;
    CHECK_ERROR(matmul_bias(g.placeholder("x", {batch, 4}), g.placeholder("w", {4, 5}), g.placeholder("b", {4})),
                "the bias is (4,); it must be (5,)");
    CHECK(matmul_bias(g.placeholder("y", {2, 4}), g.placeholder("v", {4, 5}), g.placeholder("c", {5}), true)
              .node()
              .op->attrs() == "relu");
}

template <> void op_case<ops::Transpose>() {
    const Tensor out =
        eval([](Exprs e) { return transpose(e[0]); }, {Tensor::from({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})});
    CHECK(out.shape() == Shape{3, 2});
    CHECK(values(out) == std::vector<double>{1, 4, 2, 5, 3, 6});
    agrees_with_reference([](Exprs e) { return transpose(e[0]); }, {{Shape{batch, 70}}}, 0);
    agrees_with_reference([](Exprs e) { return transpose(e[0]); }, {{Shape{33, 65}, DType::u8, 0, 255}}, 0);
    check_op_gradients([](Exprs e) { return transpose(e[0]); }, {{Shape{3, 4}}});
}

template <> void op_case<ops::Reshape>() {
    const Tensor out = eval(
        [](Exprs e) {
            return reshape(e[0], {3, 2});
        },
        {Tensor::from({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})});
    CHECK(out.shape() == Shape{3, 2});
    CHECK(values(out) == std::vector<double>{1, 2, 3, 4, 5, 6});
    const Tensor flat = agrees_with_reference(
        [](Exprs e) {
            return reshape(e[0], {batch, 12});
        },
        {{Shape{batch, 3, 4}}}, 0);
    CHECK(flat.shape() == Shape{128, 12});
    check_op_gradients([](Exprs e) { return reshape(e[0], {2, 6}); }, {{Shape{3, 4}}});
}

template <> void op_case<ops::BroadcastTo>() {
    const Tensor out = eval([](Exprs e) { return broadcast_to(e[0], {2, 3}); }, {Tensor::from({{1.f}, {2.f}})});
    CHECK(values(out) == std::vector<double>{1, 1, 1, 2, 2, 2});
    // The batch size comes from any fed placeholder with a batch dim, read or not.
    Graph g;
    const Expr row = g.placeholder("row", {1, 5});
    const Expr other = g.placeholder("other", {batch, 2});
    const Expr wide = broadcast_to(row, {batch, 5});
    Session sess(g);
    const Tensor rv = random_tensor({1, 5}, DType::f32, -1, 1, 1);
    CHECK(sess.run({wide}, {{row, rv}, {other, Tensor::zeros({3, 2})}})[0].shape() == Shape{3, 5});
    CHECK_ERROR(sess.run({wide}, {{row, rv}}), "broadcast_to \"broadcast_to\"",
                "has shape (batch, 5), but this run's batch size is unknown");
    agrees_with_reference(
        [](Exprs e) {
            return broadcast_to(e[0], {batch, 5});
        },
        {{Shape{batch, 1}}, {Shape{1, 5}}}, 0);
    agrees_with_reference([](Exprs e) { return broadcast_to(e[0], {4, 3, 5}); }, {{Shape{3, 1}, DType::i32, 0, 9}}, 0);
    check_op_gradients([](Exprs e) { return broadcast_to(e[0], {2, 3, 4}); }, {{Shape{3, 1}}});
}

template <> void op_case<ops::Cast>() {
    const Tensor out = eval([](Exprs e) { return cast(e[0], DType::i32); }, {Tensor::from({1.7f, -1.7f, 3e10f, NAN})});
    CHECK(out.dtype() == DType::i32);
    CHECK(values(out) == std::vector<double>{1, -1, 2147483647, 0});  // truncates, saturates, NaN -> 0
    const Tensor u = eval([](Exprs e) { return cast(e[0], DType::u8); }, {Tensor::from<std::int32_t>({-5, 7, 300})});
    CHECK(values(u) == std::vector<double>{0, 7, 255});
    const Tensor f = eval([](Exprs e) { return cast(e[0], DType::f32); }, {Tensor::from<std::uint8_t>({0, 128, 255})});
    CHECK(values(f) == std::vector<double>{0, 128, 255});
    agrees_with_reference([](Exprs e) { return cast(e[0], DType::f64); }, {{Shape{batch, 9}, DType::u8, 0, 255}}, 0);
    agrees_with_reference([](Exprs e) { return cast(e[0], DType::i32); }, {{Shape{batch, 9}, DType::f32, -1e3, 1e3}},
                          0);
    // Between floating types the gradient is cast back; through integers none flows.
    Graph g;
    const Expr x = g.placeholder("x", {3});
    const Expr d = gradients(sum(cast(x, DType::f64) * 3.0), {x})[0];
    CHECK(d.dtype() == DType::f32);
    Session sess(g);
    CHECK(values(sess.run({d}, {{x, Tensor::from({1.f, 2.f, 3.f})}})[0]) == std::vector<double>{3, 3, 3});
    check_no_gradient([](Exprs e) { return cast(e[0], DType::i32); }, {{Shape{3, 4}, DType::f64, -9, 9}});
}

template <> void op_case<ops::StopGradient>() {
    CHECK(values(eval([](Exprs e) { return stop_gradient(e[0]); }, {Tensor::from({1.f, 2.f})})) ==
          std::vector<double>{1, 2});
    agrees_with_reference([](Exprs e) { return stop_gradient(e[0]); }, {{Shape{batch, 9}}}, 0);
    check_no_gradient([](Exprs e) { return stop_gradient(e[0]) * e[0] - e[0] * stop_gradient(e[0]); }, {{Shape{3}}});
}

// Three ranks that all hold this process's x: the sum is 3x, whatever transport a real
// communicator uses (tests/distributed runs MPI's under mpirun). It records each sum's
// first value, and how many ran at once: each takes 5 ms, so that two allreduce steps a plan
// failed to chain would overlap on two threads.
class ThreeAlike final : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 3; }
    std::string name() const override { return "three alike"; }
    void allreduce_sum(std::span<float> d, std::string_view w) override { triple(d, w); }
    void allreduce_sum(std::span<double> d, std::string_view w) override { triple(d, w); }
    void broadcast(std::span<std::byte>, int) override {}
    std::vector<std::string> allgather(const std::string& t) override { return {t, t, t}; }
    std::vector<std::string> calls;
    std::vector<double> firsts;
    int most_at_once = 0;

private:
    template <class T> void triple(std::span<T> d, std::string_view what) {
        const int now = ++at_once_;
        {
            const std::lock_guard lock(mutex_);
            calls.emplace_back(what);
            firsts.push_back(d.empty() ? NAN : static_cast<double>(d[0]));
            most_at_once = std::max(most_at_once, now);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        for (T& v : d) v = (v + v) + v;
        --at_once_;
    }
    std::mutex mutex_;
    std::atomic<int> at_once_{0};
};

template <> void op_case<ops::AllReduce>() {
    // One process: the sum and the mean are x itself, the gradient dy.
    const Tensor x = Tensor::from({1.5f, -2.f, NAN});
    CHECK(bitwise_equal(eval([](Exprs e) { return allreduce(e[0], single_process()); }, {x}), x));
    CHECK(
        bitwise_equal(eval([](Exprs e) { return allreduce(e[0], single_process(), ops::ReduceOver::mean); }, {x}), x));
    agrees_with_reference([](Exprs e) { return allreduce(e[0], single_process()); }, {{Shape{batch, 9}}}, 0);
    check_op_gradients([](Exprs e) { return allreduce(e[0] * e[0], single_process(), ops::ReduceOver::mean); },
                       {{Shape{3, 4}}});
    // Three ranks: 3x and x, once per run; the gradient is the allreduce of dy, so the
    // sum's gradient of sum(y) is 3 per element, the mean's 1.
    auto three = std::make_shared<ThreeAlike>();
    Graph g;
    const Expr in = g.placeholder("x", {batch, 2});
    const Expr total = allreduce(in, three), mean = allreduce(in, three, ops::ReduceOver::mean, {total});
    CHECK(total.node().op->attrs() == "ranks=3");
    CHECK(mean.node().op->attrs() == "mean ranks=3");
    CHECK(mean.node().inputs.size() == 2);  // the ordering input
    const auto d = gradients(sum(total) + sum(mean), {in});
    Session s(g);
    const auto r = s.run({total, mean, d[0]}, {{in, Tensor::from({{1.f, 2.f}})}});
    CHECK(values(r[0]) == std::vector<double>{3, 6});
    CHECK(values(r[1]) == std::vector<double>{1, 2});
    CHECK(values(r[2]) == std::vector<double>{4, 4});
    CHECK(three->calls == std::vector<std::string>(4, "allreduce of f32"));
    // Independent allreduce nodes: the plan runs them one after another, in its order
    // (smallest node first), on any thread count, as every rank must.
    auto chained = std::make_shared<ThreeAlike>();
    Graph h;
    const Expr a = h.placeholder("a", {2}), b = h.placeholder("b", {2}), c = h.placeholder("c", {2});
    const Expr ra = allreduce(a, chained), rb = allreduce(b, chained), rc = allreduce(c, chained);  // in this order
    const Expr all = ra + rb + rc;  // all three live at once
    Session two(h, {.threads = 2});
    for (int run = 0; run < 5; ++run)
        two.run({all}, {{a, Tensor::full({2}, 1.0)}, {b, Tensor::full({2}, 2.0)}, {c, Tensor::full({2}, 3.0)}});
    CHECK(chained->most_at_once == 1);
    REQUIRE(chained->firsts.size() == 15);
    for (std::size_t i = 0; i < chained->firsts.size(); ++i) CHECK(chained->firsts[i] == 1 + i % 3);
    // Passes neither merge two allreduce nodes nor fold one of a constant.
    {
        Graph k;
        const Expr x = k.placeholder("x", {2});
        const Expr two_sums = allreduce(x, chained) + allreduce(x, chained);
        const Expr of_constant = allreduce(k.constant(Tensor::from({1.f, 2.f})), chained);
        const passes::Rewritten r = passes::optimize(k, std::vector{two_sums, of_constant});
        std::size_t kept = 0;
        for (NodeId id = 0; id < r.graph.size(); ++id)
            kept += r.graph.node(id).kind == NodeKind::op && r.graph.node(id).op->name() == "allreduce";
        CHECK(kept == 3);
    }
    // Only f32 and f64; a graph file cannot carry a communicator of several ranks.
    CHECK_ERROR(allreduce(g.placeholder("i", {2}, DType::i32), three), "an allreduce sums f32 or f64");
    CHECK_ERROR(allreduce(in, nullptr), "the communicator is null");
    CHECK(make_op("allreduce", "mean ranks=1")->attrs() == "mean ranks=1");
    CHECK_ERROR(make_op("allreduce", "ranks=4"), "a graph file cannot carry");
}

template <> void op_case<ops::Assign>() {
    Graph g;
    const Expr v = g.variable("v", Tensor::from({1.f, 2.f}));
    const Expr x = g.placeholder("x", {2});
    const Expr a = assign(v, v + x);
    Session sess(g);
    CHECK(values(sess.run({a}, {{x, Tensor::from({10.f, 20.f})}})[0]) == std::vector<double>{11, 22});
    CHECK(values(sess.value(v)) == std::vector<double>{11, 22});
    // Reference: copies the value into the variable.
    Tensor target = Tensor::zeros({2});
    const Tensor value = Tensor::from({5.f, 6.f});
    const Tensor* in[] = {&target, &value};
    a.node().op->reference(Inputs(in), target);
    CHECK(values(target) == std::vector<double>{5, 6});
    // The gradient flows to the value, not to the overwritten variable.
    const auto d = gradients(sum(assign(v, x * 2.f)), {x, v});
    const auto r = sess.run(d, {{x, Tensor::from({1.f, 1.f})}});
    CHECK(values(r[0]) == std::vector<double>{2, 2});
    CHECK(values(r[1]) == std::vector<double>{0, 0});
}

}  // namespace adjoint::test
