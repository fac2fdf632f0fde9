// Reductions, counting, and the softmax family.
#include <cmath>
#include <limits>

#include "op_cases.hpp"

namespace adjoint::test {

namespace {
using Exprs = std::span<const Expr>;
const Tensor m23 = Tensor::from({{1.f, 5.f, 3.f}, {4.f, 2.f, 6.f}});
}  // namespace

template <> void op_case<ops::Sum>() {
    CHECK(values(eval([](Exprs e) { return sum(e[0]); }, {m23})) == std::vector<double>{21});
    CHECK(values(eval([](Exprs e) { return sum(e[0], {0}); }, {m23})) == std::vector<double>{5, 7, 9});
    const Tensor rows = eval([](Exprs e) { return sum(e[0], {-1}, true); }, {m23});
    CHECK(rows.shape() == Shape{2, 1});
    CHECK(values(rows) == std::vector<double>{9, 12});
    CHECK(values(eval([](Exprs e) { return sum(e[0]); }, {Tensor::from<std::int32_t>({1, 2, 3})})) ==
          std::vector<double>{6});
    // Integer sums wrap around, as numpy's do (they overflowed, undefined behaviour, found
    // by fuzz_graph): every folding of the kernel, and the reference.
    const std::int32_t big = std::numeric_limits<std::int32_t>::max();
    const Tensor ints = Tensor::from<std::int32_t>({{{big, 1}, {-2, big}}, {{3, big}, {big, big}}});
    CHECK(values(eval([](Exprs e) { return sum(e[0]); }, {ints})) == std::vector<double>{2147483645});
    CHECK(values(eval([](Exprs e) { return sum(e[0], {0, 2}); }, {ints})) == std::vector<double>{2, 2147483643});
    CHECK(values(eval([](Exprs e) { return sum(e[0], {2}); }, {ints})) ==
          std::vector<double>{-2147483648, 2147483645, -2147483646, -2});
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}, {0, 2}})
        agrees_with_reference([&](Exprs e) { return sum(e[0], axes); }, {{Shape{3, 200, 5}, DType::i32, 2e9, 2.1e9}},
                              0);
    // Every layout the kernel folds, and one it cannot fold (axes 0 and 2 of 3).
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}, {0, 1}})
        agrees_with_reference([&](Exprs e) { return sum(e[0], axes); }, {{Shape{batch, 300}}}, 1e-5);
    for (std::vector<int> axes : {std::vector<int>{0, 2}, {1}, {2}, {0, 1}, {1, 2}})
        agrees_with_reference([&](Exprs e) { return sum(e[0], axes, true); }, {{Shape{batch, 6, 7}, DType::f64}},
                              1e-12);
    // Many rows into one short row (a bias gradient), in f64 and f32.
    agrees_with_reference([](Exprs e) { return sum(e[0], {0}); }, {{Shape{9000, 24}, DType::f64}}, 1e-12);
    agrees_with_reference([](Exprs e) { return sum(e[0], {0, 1, 2}); }, {{Shape{batch, 26, 26, 32}}}, 1e-4, {64});
    agrees_with_reference([](Exprs e) { return max(e[0], {0}); }, {{Shape{5000, 3}}}, 0);
    // A long sum (over 64 chunks) stays close to the naive one.
    agrees_with_reference([](Exprs e) { return sum(e[0]); }, {{Shape{1000, 1000}, DType::f64}}, 1e-12);
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        for (bool keep : {false, true})
            check_op_gradients([&](Exprs e) { return sum(e[0], axes, keep); }, {{Shape{3, 4}}});
    check_op_gradients([](Exprs e) { return sum(e[0], {0, 2}); }, {{Shape{2, 3, 2}}});
}

template <> void op_case<ops::Prod>() {
    CHECK(values(eval([](Exprs e) { return prod(e[0]); }, {m23})) == std::vector<double>{720});
    CHECK(values(eval([](Exprs e) { return prod(e[0], {0}); }, {m23})) == std::vector<double>{4, 10, 18});
    const Tensor rows = eval([](Exprs e) { return prod(e[0], {-1}, true); }, {m23});
    CHECK(rows.shape() == Shape{2, 1});
    CHECK(values(rows) == std::vector<double>{15, 48});
    // An empty product is 1, as numpy's.
    CHECK(values(eval([](Exprs e) { return prod(e[0], {1}); }, {Tensor::zeros({2, 0})})) == std::vector<double>{1, 1});
    // Integer products wrap around within i32: 65536^2 = 2^32 = 0, and 3 * (2^31 - 1) mod 2^32.
    CHECK(values(eval([](Exprs e) { return prod(e[0], {1}); },
                      {Tensor::from<std::int32_t>({{65536, 65536}, {3, 2147483647}})})) ==
          std::vector<double>{0, 2147483645});
    CHECK_ERROR(prod(Graph{}.placeholder("b", {3}, DType::u8)), "prod of u8 would overflow");
    // Every layout the kernel folds, and one it cannot fold; values near 1 so that long
    // products stay finite.
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        agrees_with_reference([&](Exprs e) { return prod(e[0], axes); }, {{Shape{batch, 40}, DType::f64, 0.8, 1.2}},
                              1e-12);
    for (std::vector<int> axes : {std::vector<int>{0, 2}, {1}, {2}, {1, 2}})
        agrees_with_reference([&](Exprs e) { return prod(e[0], axes, true); }, {{Shape{4, 6, 7}, DType::f32, 0.5, 1.5}},
                              1e-5);
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        for (bool keep : {false, true})
            check_op_gradients([&](Exprs e) { return prod(e[0], axes, keep); }, {{Shape{3, 4}}});
    check_op_gradients([](Exprs e) { return prod(e[0], {0, 2}); }, {{Shape{2, 3, 2}}});
    // Zeros: the product of the others, as PyTorch gives; no 0/0.
    Graph g;
    const Expr x = g.placeholder("x", {3, 3});
    Session sess(g);
    const Tensor rows3 = Tensor::from({{2.f, 3.f, 4.f}, {2.f, 0.f, 5.f}, {0.f, 7.f, 0.f}});
    CHECK(values(sess.run(gradients(sum(prod(x, {1})), {x}), {{x, rows3}})[0]) ==
          std::vector<double>{12, 8, 6, 0, 10, 0, 0, 0, 0});
}

template <> void op_case<ops::Max>() {
    CHECK(values(eval([](Exprs e) { return max(e[0]); }, {m23})) == std::vector<double>{6});
    CHECK(values(eval([](Exprs e) { return max(e[0], {1}); }, {m23})) == std::vector<double>{5, 6});
    CHECK(values(eval([](Exprs e) { return max(e[0], {0}); }, {m23})) == std::vector<double>{4, 5, 6});
    CHECK(std::isnan(eval([](Exprs e) { return max(e[0]); }, {Tensor::from({1.f, NAN, 2.f})}).item<float>()));
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        agrees_with_reference([&](Exprs e) { return max(e[0], axes); }, {{Shape{batch, 130}}}, 0);
    agrees_with_reference([](Exprs e) { return max(e[0], {0, 2}); }, {{Shape{4, 5, 6}, DType::i32, -50, 50}}, 0);
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        check_op_gradients([&](Exprs e) { return max(e[0], axes, axes.size() == 1); }, {{Shape{3, 4}}});
    // Ties share the gradient evenly, as in TensorFlow.
    Graph g;
    const Expr x = g.placeholder("x", {4});
    Session sess(g);
    CHECK(values(sess.run(gradients(max(x), {x}), {{x, Tensor::from({1.f, 3.f, 3.f, 2.f})}})[0]) ==
          std::vector<double>{0, 0.5, 0.5, 0});
}

template <> void op_case<ops::Min>() {
    CHECK(values(eval([](Exprs e) { return min(e[0]); }, {m23})) == std::vector<double>{1});
    CHECK(values(eval([](Exprs e) { return min(e[0], {1}); }, {m23})) == std::vector<double>{1, 2});
    CHECK(values(eval([](Exprs e) { return min(e[0], {0}, true); }, {m23})) == std::vector<double>{1, 2, 3});
    CHECK(std::isnan(eval([](Exprs e) { return min(e[0]); }, {Tensor::from({1.f, NAN, 2.f})}).item<float>()));
    CHECK(values(eval([](Exprs e) { return min(e[0]); }, {Tensor::from<std::int32_t>({-2147483647 - 1, 5})})) ==
          std::vector<double>{-2147483648.0});
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        agrees_with_reference([&](Exprs e) { return min(e[0], axes); }, {{Shape{batch, 130}}}, 0);
    agrees_with_reference([](Exprs e) { return min(e[0], {0, 2}); }, {{Shape{4, 5, 6}, DType::i32, -50, 50}}, 0);
    agrees_with_reference([](Exprs e) { return min(e[0], {1}); }, {{Shape{20, 30}, DType::f32, 0, 0, 5}}, 0);
    for (std::vector<int> axes : {std::vector<int>{}, {0}, {1}})
        check_op_gradients([&](Exprs e) { return min(e[0], axes, axes.size() == 1); }, {{Shape{3, 4}}});
    Graph g;
    const Expr x = g.placeholder("x", {4});
    Session sess(g);
    CHECK(values(sess.run(gradients(min(x), {x}), {{x, Tensor::from({1.f, -3.f, -3.f, 2.f})}})[0]) ==
          std::vector<double>{0, 0.5, 0.5, 0});
    CHECK_ERROR(min(g.placeholder("e", {0})), "min over axis 0 of (0,), which is empty");
}

template <> void op_case<ops::ArgMax>() {
    const Tensor a = eval([](Exprs e) { return argmax(e[0], 1); }, {m23});
    CHECK(a.dtype() == DType::i32);
    CHECK(values(a) == std::vector<double>{1, 2});
    CHECK(values(eval([](Exprs e) { return argmax(e[0], 0); }, {m23})) == std::vector<double>{1, 0, 1});
    // Ties go to the first index.
    CHECK(values(eval([](Exprs e) { return argmax(e[0]); }, {Tensor::from({3.f, 7.f, 7.f})})) ==
          std::vector<double>{1});
    agrees_with_reference([](Exprs e) { return argmax(e[0], -1); }, {{Shape{batch, 10}}}, 0);
    check_no_gradient([](Exprs e) { return argmax(e[0]); }, {{Shape{3, 4}}});
}

template <> void op_case<ops::ElementCount>() {
    CHECK(values(eval([](Exprs e) { return element_count(e[0]); }, {m23})) == std::vector<double>{6});
    CHECK(values(eval([](Exprs e) { return element_count(e[0], {1}); }, {m23})) == std::vector<double>{3});
    // mean over the batch dim divides by the fed batch size.
    const Tensor m = agrees_with_reference([](Exprs e) { return element_count(e[0], {0}); }, {{Shape{batch, 3}}}, 0);
    CHECK(m.item<float>() == 128.f);
    Graph g;
    const Expr x = g.placeholder("x", {batch, 2});
    Session sess(g);
    const auto r = sess.run({mean(x), mean(x, {0}), mean(x, {1})}, {{x, Tensor::from({{1.f, 2.f}, {3.f, 6.f}})}});
    CHECK(values(r[0]) == std::vector<double>{3});
    CHECK(values(r[1]) == std::vector<double>{2, 4});
    CHECK(values(r[2]) == std::vector<double>{1.5, 4.5});
    check_no_gradient([](Exprs e) { return element_count(e[0], {0}); }, {{Shape{3, 4}}});
    // mean over the batch divides by the run's count, and so does its gradient.
    check_op_gradients([](Exprs e) { return mean(e[0], {0}); }, {{Shape{3, 4}}});
    const Expr d = gradients(mean(x), {x})[0];
    CHECK(values(sess.run({d}, {{x, Tensor::zeros({4, 2})}})[0]) == std::vector<double>(8, 0.125));
}

namespace {

// The per-row losses of softmax_cross_entropy and sparse_softmax_cross_entropy on rows of
// logits with the label on class `label` of each, in f32.
std::pair<std::vector<double>, std::vector<double>> cross_entropies(const std::vector<std::vector<float>>& rows,
                                                                    const std::vector<std::int32_t>& labels) {
    const auto n = static_cast<std::int64_t>(rows.size()), c = static_cast<std::int64_t>(rows[0].size());
    Tensor x({n, c}, DType::f32), onehot = Tensor::zeros({n, c});
    for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t k = 0; k < c; ++k) {
            x.data<float>()[static_cast<std::size_t>(r * c + k)] =
                rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(k)];
            onehot.data<float>()[static_cast<std::size_t>(r * c + k)] =
                labels[static_cast<std::size_t>(r)] == k ? 1.f : 0.f;
        }
    const Tensor l = Tensor::from<std::int32_t>(labels, Shape{n});
    return {values(eval([](Exprs e) { return softmax_cross_entropy(e[0], e[1]); }, {x, onehot})),
            values(eval([](Exprs e) { return sparse_softmax_cross_entropy(e[0], e[1]); }, {x, l}))};
}

}  // namespace

template <> void op_case<ops::SoftmaxCrossEntropy>() {
    // Hand values: uniform logits over 4 classes give log(4) whatever the label.
    const Tensor out = eval([](Exprs e) { return softmax_cross_entropy(e[0], e[1]); },
                            {Tensor::from({{0.f, 0.f, 0.f, 0.f}, {1e4f, -1e4f, 0.f, 0.f}}),
                             Tensor::from({{0.f, 1.f, 0.f, 0.f}, {1.f, 0.f, 0.f, 0.f}})});
    CHECK(out.shape() == Shape{2});
    CHECK(out.data<float>()[0] == doctest::Approx(std::log(4.f)));
    CHECK(out.data<float>()[1] == 0.f);  // stable at 1e4: exp(0) dominates, no overflow
    // The composite softmax and log_softmax agree with it: loss = -sum(labels * log_softmax).
    Graph g;
    const Expr x = g.placeholder("x", {batch, 10});
    const Expr p = g.placeholder("p", {batch, 10});
    const Expr fused = softmax_cross_entropy(x, p);
    const Expr composite = -sum(p * log_softmax(x), {1});
    const Expr total = sum(softmax(x), {1});
    Session sess(g);
    const Tensor xv = random_tensor({96, 10}, DType::f32, -20, 20, 1);
    Tensor pv = random_tensor({96, 10}, DType::f32, 0, 1, 2);
    const auto r = sess.run({fused, composite, total}, {{x, xv}, {p, pv}});
    CHECK(max_rel_diff(r[0], r[1]) < 1e-5);
    for (double s : values(r[2])) CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
    agrees_with_reference([](Exprs e) { return softmax_cross_entropy(e[0], e[1]); },
                          {{Shape{batch, 10}, DType::f32, -30, 30}, {Shape{batch, 10}, DType::f32, 0, 1}}, 1e-6);
    check_op_gradients([](Exprs e) { return softmax_cross_entropy(e[0], e[1]); },
                       {{Shape{3, 5}, DType::f64, -3, 3}, {Shape{3, 5}, DType::f64, 0, 1}});
    // The composites too (softmax over axis 0 is built from ops).
    check_op_gradients([](Exprs e) { return softmax(e[0], 0); }, {{Shape{3, 5}, DType::f64, -3, 3}});
    check_op_gradients([](Exprs e) { return log_softmax(e[0], 0); }, {{Shape{3, 5}, DType::f64, -3, 3}});
    // Exact across the float range: equal huge logits give log 3 (forming logsumexp first
    // would lose it: 1e30 + log 3 = 1e30); FLT_MAX beside -FLT_MAX overflows to inf only
    // where the true loss does; NaN and +inf logits give NaN, never a silent number.
    const float big = std::numeric_limits<float>::max(), inf = std::numeric_limits<float>::infinity();
    const auto [dense, sparse] = cross_entropies({{1e30f, 1e30f, 1e30f},
                                                  {-1e30f, -1e30f, -1e30f},
                                                  {big, -big, 0},
                                                  {big, -big, 0},
                                                  {NAN, 0, 0},
                                                  {inf, 0, 0},
                                                  {-inf, 0, 0}},
                                                 {0, 2, 0, 1, 1, 0, 1});
    for (const auto& losses : {dense, sparse}) {
        CHECK(losses[0] == doctest::Approx(std::log(3.0)).epsilon(1e-6));
        CHECK(losses[1] == doctest::Approx(std::log(3.0)).epsilon(1e-6));
        CHECK(losses[2] == 0);
        CHECK(std::isinf(losses[3]));
        CHECK(std::isnan(losses[4]));
        CHECK(std::isnan(losses[5]));
        CHECK(losses[6] == doctest::Approx(std::log(2.0)).epsilon(1e-6));
    }
    // Stable at +-1e4: finite loss and gradient, the gradient softmax - labels.
    Graph h;
    const Expr logits = h.placeholder("logits", {1, 3});
    const Expr labels = h.placeholder("labels", {1, 3});
    const Expr loss = sum(softmax_cross_entropy(logits, labels));
    Session hs(h);
    const auto v = hs.run({loss, gradients(loss, {logits})[0]},
                          {{logits, Tensor::from({{1e4f, -1e4f, 0.f}})}, {labels, Tensor::from({{0.f, 1.f, 0.f}})}});
    CHECK(v[0].item<float>() == 2e4f);
    CHECK(values(v[1]) == std::vector<double>{1, -1, 0});
}

template <> void op_case<ops::Softmax>() {
    // Hand values; stable at 1e4 (exp(0) dominates), and the same as the composite over
    // axis 0 of the transpose.
    const Tensor out = eval([](Exprs e) { return softmax(e[0]); }, {Tensor::from({{0.0, std::log(3.0)}, {1e4, -1e4}})});
    CHECK(out.shape() == Shape{2, 2});
    const std::vector<double> v = values(out);
    CHECK(v[0] == doctest::Approx(0.25));
    CHECK(v[1] == doctest::Approx(0.75));
    CHECK(v[2] == 1.0);
    CHECK(v[3] == 0.0);
    CHECK(softmax(Graph().placeholder("x", {batch, 10})).node().op->name() == "softmax");
    Graph g;
    const Expr x = g.placeholder("x", {7, 10}, DType::f64);
    Session sess(g);
    const Tensor xv = random_tensor({7, 10}, DType::f64, -20, 20, 5);
    const auto r = sess.run({softmax(x), transpose(softmax(transpose(x), 0))}, {{x, xv}});
    CHECK(max_rel_diff(r[0], r[1]) < 1e-15);
    // With NaN, +-inf, -0.0 and denormals among the logits: NaN and infinities where the
    // composite has them, the same values elsewhere within 1e-15 (not bit for bit: the
    // composite sums in another order).
    const auto e =
        sess.run({softmax(x), transpose(softmax(transpose(x), 0))}, {{x, edge_tensor({7, 10}, DType::f64, 6, 8)}});
    CHECK(max_rel_diff(e[0], e[1]) < 1e-15);
    agrees_with_reference([](Exprs e) { return softmax(e[0]); }, {{Shape{batch, 10}, DType::f32, -30, 30}}, 1e-6);
    agrees_with_reference([](Exprs e) { return softmax(e[0]); }, {{Shape{5, 3000}, DType::f64, -30, 30}}, 1e-14);
    check_op_gradients([](Exprs e) { return softmax(e[0]); }, {{Shape{3, 5}, DType::f64, -3, 3}});
    CHECK_ERROR(softmax(g.placeholder("s", {})), "logits must have a class dim");
}

template <> void op_case<ops::SoftmaxCrossEntropyGrad>() {
    // It is the gradient node of softmax_cross_entropy, and equals (softmax(x) S - l) dy.
    Graph g;
    const Expr x = g.placeholder("x", {batch, 10}, DType::f64);
    const Expr l = g.placeholder("l", {batch, 10}, DType::f64);
    const Expr dy = g.placeholder("dy", {batch}, DType::f64);
    const Expr d = gradients(softmax_cross_entropy(x, l), {x}, dy)[0];
    CHECK(d.node().op->name() == "softmax_cross_entropy_grad");
    const Expr composite = (softmax(x) * sum(l, {1}, true) - l) * reshape(dy, {batch, 1});
    Session sess(g);
    const auto r = sess.run({d, composite}, {{x, random_tensor({96, 10}, DType::f64, -20, 20, 1)},
                                             {l, random_tensor({96, 10}, DType::f64, 0, 1, 2)},
                                             {dy, random_tensor({96}, DType::f64, -1, 1, 3)}});
    CHECK(max_rel_diff(r[0], r[1]) < 1e-14);
    // With NaN, +-inf, -0.0 and denormals among the inputs: the same NaN and infinities,
    // the finite values within 1e-14 (the composite sums in another order).
    const auto edges = sess.run({d, composite}, {{x, edge_tensor({96, 10}, DType::f64, 4, 12)},
                                                 {l, edge_tensor({96, 10}, DType::f64, 5, 12)},
                                                 {dy, edge_tensor({96}, DType::f64, 6, 12)}});
    CHECK(max_rel_diff(edges[0], edges[1]) < 1e-14);
    auto grad = [](Exprs e) {
        return make(ops::SoftmaxCrossEntropyGrad{}, {e[0], e[1], e[2]}, SourceLocation::current());
    };
    agrees_with_reference(
        grad, {{Shape{batch, 10}, DType::f32, -30, 30}, {Shape{batch, 10}, DType::f32, 0, 1}, {Shape{batch}}}, 1e-6);
    // Its own rule, for second order, against central differences.
    check_op_gradients(
        grad, {{Shape{3, 5}, DType::f64, -3, 3}, {Shape{3, 5}, DType::f64, 0, 1}, {Shape{3}, DType::f64, -1, 1}});
    CHECK_ERROR(grad(std::vector<Expr>{x, l, g.placeholder("bad", {batch, 2}, DType::f64)}),
                "need a loss gradient of shape (batch,)");
}

template <> void op_case<ops::SparseSoftmaxCrossEntropy>() {
    const Tensor out =
        eval([](Exprs e) { return sparse_softmax_cross_entropy(e[0], e[1]); },
             {Tensor::from({{0.f, 0.f, 0.f, 0.f}, {-1e4f, 1e4f, 0.f, 0.f}}), Tensor::from<std::int32_t>({2, 0})});
    CHECK(out.data<float>()[0] == doctest::Approx(std::log(4.f)));
    CHECK(out.data<float>()[1] == 2e4f);  // finite at +-1e4
    agrees_with_reference([](Exprs e) { return sparse_softmax_cross_entropy(e[0], e[1]); },
                          {{Shape{batch, 10}, DType::f32, -30, 30}, {Shape{batch}, DType::i32, 0, 10}}, 1e-6);
    agrees_with_reference([](Exprs e) { return sparse_softmax_cross_entropy(e[0], e[1]); },
                          {{Shape{batch, 10}, DType::f64, -30, 30}, {Shape{batch}, DType::u8, 0, 10}}, 1e-14);
    check_op_gradients([](Exprs e) { return sparse_softmax_cross_entropy(e[0], e[1]); },
                       {{Shape{4, 5}, DType::f64, -3, 3}, {Shape{4}, DType::i32, 0, 5}});
    Graph h;
    const Expr logits = h.placeholder("logits", {2, 3});
    const Expr labels = h.placeholder("labels", {2}, DType::i32);
    const Expr loss = sum(sparse_softmax_cross_entropy(logits, labels));
    Session hs(h);
    const auto v = hs.run(
        {loss, gradients(loss, {logits})[0]},
        {{logits, Tensor::from({{1e4f, -1e4f, 0.f}, {0.f, 0.f, 0.f}})}, {labels, Tensor::from<std::int32_t>({1, 0})}});
    CHECK(v[0].item<float>() == doctest::Approx(2e4 + std::log(3.0)));
    const std::vector<double> d = values(v[1]);
    CHECK(d[0] == 1);
    CHECK(d[1] == -1);
    CHECK(d[3] == doctest::Approx(1.0 / 3 - 1));
    CHECK_ERROR(hs.run({gradients(loss, {logits})[0]},
                       {{logits, Tensor::zeros({2, 3})}, {labels, Tensor::from<std::int32_t>({0, 3})}}),
                "label 3 in row 1 is out of range [0, 3)");
}

template <> void op_case<ops::OneHot>() {
    const Tensor out = eval([](Exprs e) { return one_hot(e[0], 3); }, {Tensor::from<std::int32_t>({2, 0})});
    CHECK(out.shape() == Shape{2, 3});
    CHECK(values(out) == std::vector<double>{0, 0, 1, 1, 0, 0});
    CHECK(eval([](Exprs e) { return one_hot(e[0], 2, DType::f64); }, {Tensor::from<std::uint8_t>({1})}).dtype() ==
          DType::f64);
    agrees_with_reference([](Exprs e) { return one_hot(e[0], 10); }, {{Shape{batch}, DType::u8, 0, 10}}, 0);
    CHECK_ERROR(eval([](Exprs e) { return one_hot(e[0], 3); }, {Tensor::from<std::int32_t>({1, -1})}), "one_hot",
                "label -1 in row 1 is out of range [0, 3)");
    Graph g;
    CHECK_ERROR(one_hot(g.placeholder("f", {2}), 3), "labels have dtype f32");
    // Labels are indices: the rule gives them no gradient (the pass never asks for one of
    // an integer input, so ask the rule directly).
    const Expr labels = g.placeholder("labels", {2}, DType::i32);
    const Expr y = one_hot(labels, 3);
    const Expr xs[] = {labels};
    const std::uint8_t wanted[] = {1};
    const Grads gr = y.node().op->gradient({xs, y, g.constant(Tensor::zeros({2, 3})), wanted});
    CHECK(gr.size() == 1);
    CHECK(!gr[0].has_value());
}

}  // namespace adjoint::test
