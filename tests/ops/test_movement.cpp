// Movement ops: permute, slice, pad, concat, gather and their backward ops: values by
// hand, the strided kernel against the naive one on every dtype, gradients to second order.
#include <cmath>

#include "op_cases.hpp"

namespace adjoint::test {

namespace {
using Exprs = std::span<const Expr>;

// 0..n-1 as f32 of a shape.
Tensor iota(const Shape& s) {
    Tensor t = Tensor::zeros(s);
    for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[static_cast<std::size_t>(i)] = static_cast<float>(i);
    return t;
}
}  // namespace

template <> void op_case<ops::Permute>() {
    // (2, 3, 4) -> (4, 2, 3): y[k, i, j] = x[i, j, k].
    const Tensor out = eval([](Exprs e) { return transpose(e[0], {2, 0, 1}); }, {iota({2, 3, 4})});
    CHECK(out.shape() == Shape{4, 2, 3});
    CHECK(values(out)[0] == 0);
    CHECK(values(out)[1] == 4);   // x[0, 1, 0]
    CHECK(values(out)[3] == 12);  // x[1, 0, 0]
    CHECK(values(out)[6] == 1);   // x[0, 0, 1]
    auto p = [](const std::vector<int>& perm) { return [perm](Exprs e) { return transpose(e[0], perm); }; };
    agrees_with_reference(p({0, 3, 1, 2}), {{Shape{batch, 5, 6, 7}}}, 0, {1, 9});  // NHWC -> NCHW
    agrees_with_reference(p({1, 0}), {{Shape{300, 257}, DType::u8, 0, 255}}, 0);
    agrees_with_reference(p({2, 1, 0}), {{Shape{3, 4, 5}, DType::f64, -2, 2, 4}}, 0);
    agrees_with_reference(p({-1, 0}), {{Shape{3, 4}, DType::i32, -9, 9}}, 0);  // negative: from the end
    check_op_gradients(p({1, 2, 0}), {{Shape{2, 3, 4}}});
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3, 4});
    CHECK_ERROR(transpose(x, {0, 0, 1}), "perm [0, 0, 1] is not a permutation of the 3 dims");
    CHECK_ERROR(transpose(x, {0, 1}), "perm [0, 1] is not a permutation");
}

template <> void op_case<ops::Slice>() {
    // numpy: x[1:3, ::2] of 0..11 as (4, 3).
    CHECK(values(eval(
              [](Exprs e) {
                  return slice(e[0], {1, 0}, {3, INT64_MAX}, {1, 2});
              },
              {iota({4, 3})})) == std::vector<double>{3, 5, 6, 8});
    // Negative positions count from the end; past the end is clipped; empty is fine.
    CHECK(values(eval([](Exprs e) { return slice(e[0], {-2}, {100}); }, {iota({5})})) == std::vector<double>{3, 4});
    CHECK(eval([](Exprs e) { return slice(e[0], {3}, {1}); }, {iota({5})}).shape() == Shape{0});
    auto s = [](const std::vector<std::int64_t>& b, const std::vector<std::int64_t>& e,
                const std::vector<std::int64_t>& st) { return [b, e, st](Exprs x) { return slice(x[0], b, e, st); }; };
    // The batch dim whole, others sliced with steps; every dtype.
    agrees_with_reference(s({0, 1, 2}, {INT64_MAX, 6, -1}, {1, 2, 3}), {{Shape{batch, 7, 9}}}, 0, {1, 5});
    agrees_with_reference(s({2}, {30}, {7}), {{Shape{40, 3}, DType::u8, 0, 255}}, 0);
    agrees_with_reference(s({1, 1}, {4, 3}, {}), {{Shape{5, 4}, DType::f64, -2, 2, 3}}, 0);
    check_op_gradients(s({1, 0}, {4, 5}, {2, 2}), {{Shape{5, 5}}});
    Graph g;
    const Expr x = g.placeholder("x", {batch, 6});
    CHECK_ERROR(slice(x, {1}, {3}), "dim 0 is the batch dim; it is taken whole");
    CHECK_ERROR(slice(x, {0, 0}, {INT64_MAX, 4}, {1, 0}), "dim 1: step 0 is not positive");
    CHECK_ERROR(slice(x, {0, 0, 0}, {1, 1, 1}), "must have one value per dim sliced, at most 2");
}

template <> void op_case<ops::SliceGrad>() {
    // dy back where the slice came from, zeros elsewhere.
    CHECK(values(eval([](Exprs e) { return gradients(sum(slice(e[0], {1}, {5}, {2}) * 3.f), {e[0]})[0]; },
                      {iota({6})})) == std::vector<double>{0, 3, 0, 3, 0, 0});
    const ops::Slice sl{{0, 1, 2}, {-1, 5, 6}, {1, 2, 3}};
    auto grad = [sl](Exprs e) { return slice_grad(e[0], sl, {batch, 7, 9}); };
    agrees_with_reference(grad, {{Shape{batch, 3, 2}}}, 0, {1, 4});
    check_op_gradients([sl](Exprs e) { return slice_grad(e[0], sl, {2, 7, 9}); }, {{Shape{2, 3, 2}}});
    Graph g;
    CHECK_ERROR(slice_grad(g.placeholder("dy", {batch, 3, 3}), sl, {batch, 7, 9}),
                "dy is (batch, 3, 3); the slice of (batch, 7, 9) is (batch, 3, 2)");
}

template <> void op_case<ops::Pad>() {
    CHECK(values(eval(
              [](Exprs e) {
                  return pad(e[0], {{1, 2}}, -1);
              },
              {iota({2})})) == std::vector<double>{-1, 0, 1, -1, -1});
    const Tensor two = eval([](Exprs e) { return pad(e[0], {{0, 0}, {1, 1}}); }, {iota({2, 2})});
    CHECK(two.shape() == Shape{2, 4});
    CHECK(values(two) == std::vector<double>{0, 0, 1, 0, 0, 2, 3, 0});
    agrees_with_reference(
        [](Exprs e) {
            return pad(e[0], {{0, 0}, {2, 1}, {0, 3}}, 0.5);
        },
        {{Shape{batch, 5, 4}}}, 0, {1, 6});
    agrees_with_reference([](Exprs e) { return pad(e[0], {{3, 0}}, 7); }, {{Shape{9, 2}, DType::i32, -5, 5}}, 0);
    check_op_gradients([](Exprs e) { return pad(e[0], {{1, 2}, {0, 1}}); }, {{Shape{3, 2}}});
    Graph g;
    const Expr x = g.placeholder("x", {batch, 4});
    CHECK_ERROR(pad(x, {{1, 0}}), "dim 0 is the batch dim of (batch, 4): it takes no padding");
    CHECK_ERROR(pad(x, {{0, 0}, {-1, 0}}), "dim 1: the padding (-1, 0) must be from 0 to 2^31 - 1");
    // The value must be one of the dtype's: no rounding, wrapping or overflow.
    const Expr ints = g.placeholder("ints", {3}, DType::i32);
    CHECK_ERROR(pad(ints, {{1, 1}}, 0.5), "the padding value 0.5 is not a i32 value");
    CHECK_ERROR(pad(ints, {{1, 1}}, 1e10), "the padding value 10000000000 is not a i32 value");
    CHECK_ERROR(pad(ints, {{1, 1}}, NAN), "the padding value nan is not a i32 value");
    CHECK_ERROR(pad(g.placeholder("bytes", {3}, DType::u8), {{1, 1}}, -1), "is not a u8 value");
    CHECK_ERROR(pad(x, {{0, 0}, {1, 1}}, 1e300), "the padding value 1e+300 is not a f32 value");
    CHECK_ERROR(pad(x, {{0, 0}, {0, 0}, {0, 0}}), "3 paddings for 2 dims");
}

template <> void op_case<ops::Concat>() {
    CHECK(values(eval(
              [](Exprs e) {
                  return concat({e[0], e[1]}, 0);
              },
              {iota({2}), iota({3})})) == std::vector<double>{0, 1, 0, 1, 2});
    const Tensor cols = eval([](Exprs e) { return concat({e[0], e[1]}, -1); }, {iota({2, 1}), iota({2, 2})});
    CHECK(cols.shape() == Shape{2, 3});
    CHECK(values(cols) == std::vector<double>{0, 0, 1, 1, 2, 3});
    agrees_with_reference(
        [](Exprs e) {
            return concat({e[0], e[1], e[0]}, 1);
        },
        {{Shape{batch, 3, 4}}, {Shape{batch, 5, 4}}}, 0, {1, 7});
    agrees_with_reference(
        [](Exprs e) {
            return concat({e[0], e[1]}, 2);
        },
        {{Shape{2, 3, 4}, DType::u8, 0, 255}, {Shape{2, 3, 1}, DType::u8, 0, 255}}, 0);
    check_op_gradients([](Exprs e) { return concat({e[0], e[1] * e[1]}, 1); }, {{Shape{2, 3}}, {Shape{2, 2}}});
    Graph g;
    const Expr a = g.placeholder("a", {batch, 3}), b = g.placeholder("b", {batch, 4});
    CHECK_ERROR(concat({a, b}, 0), "dim 0 of input 0 (batch, 3) is a batch dim; concat joins along another");
    CHECK_ERROR(concat({a, g.placeholder("c", {batch, 4, 1})}, 1), "input 1 is (batch, 4, 1), input 0 (batch, 3)");
    CHECK_ERROR(concat({a, cast(a, DType::f64)}, 1), "dtypes f32 and f64 differ");
    CHECK_ERROR(concat({a}, 2), "axis 2 is not a dim of (batch, 3)");
}

template <> void op_case<ops::Gather>() {
    const Tensor table = iota({4, 2});
    const Tensor rows =
        eval([](Exprs e) { return gather(e[0], e[1]); }, {table, Tensor::from<std::int32_t>({{3, 0}, {3, 1}})});
    CHECK(rows.shape() == Shape{2, 2, 2});
    CHECK(values(rows) == std::vector<double>{6, 7, 0, 1, 6, 7, 2, 3});
    Graph g;
    const Expr params = g.placeholder("table", {4, 2});
    const Expr idx = g.placeholder("idx", {batch}, DType::i32);
    const Expr y = gather(params, idx);
    Session s(g);
    CHECK_ERROR(s.run({y}, {{params, table}, {idx, Tensor::from<std::int32_t>({1, 4})}}),
                "index 4 (at 1 of the indices) is not a row of [0, 4)");
    // Ids of another dtype are whole numbers (Keras feeds them as floats), never rounded.
    const Expr fids = g.placeholder("fids", {batch});
    const Expr fy = gather(params, fids);
    CHECK(values(s.run({fy}, {{params, table}, {fids, Tensor::from({3.f, 0.f})}})[0]) ==
          std::vector<double>{6, 7, 0, 1});
    for (float bad : {2.5f, -0.5f, NAN, 1e10f, INFINITY})
        CHECK_ERROR(s.run({fy}, {{params, table}, {fids, Tensor::from({0.f, bad})}}),
                    "(at 1 of the indices) is not a row");
    const Tensor random_rows = random_tensor({40}, DType::i32, 0, 50, 9);
    const Tensor out =
        eval([](Exprs e) { return gather(e[0], e[1]); }, {random_tensor({50, 8}, DType::f64, -1, 1, 3), random_rows});
    CHECK(out.shape() == Shape{40, 8});
    // Gradients into the table (repeated indices add), to second order.
    check_op_gradients(
        [](Exprs e) {
            return gather(e[0], e[0].graph().constant(Tensor::from<std::int32_t>({{2, 0, 2}, {1, 2, 2}})));
        },
        {{Shape{3, 4}}});
}

template <> void op_case<ops::GatherGrad>() {
    // Rows added back by index, repeats summed.
    CHECK(values(eval([](Exprs e) { return gather_grad(e[0], e[1], 3); },
                      {Tensor::from<std::int32_t>({2, 0, 2}), iota({3, 2})})) == std::vector<double>{2, 3, 0, 0, 4, 6});
    Graph g;
    const Expr idx = g.placeholder("idx", {batch, 5}, DType::i32), dy = g.placeholder("dy", {batch, 5, 16});
    const Expr dw = gather_grad(idx, dy, 30);
    CHECK(dw.shape() == Shape{30, 16});
    CHECK_ERROR(gather_grad(idx, g.placeholder("bad", {batch, 4, 16}), 30),
                "dy is (batch, 4, 16); it must start with the indices' shape (batch, 5)");
    check_op_gradients(
        [](Exprs e) {
            return gather_grad(e[0].graph().constant(Tensor::from<std::int32_t>({1, 1, 0})), e[0], 2);
        },
        {{Shape{3, 4}}});
}

TEST_CASE("gather_grad: the fast kernel against the naive one, f32 and f64, many repeats") {
    for (DType t : {DType::f32, DType::f64}) {
        CAPTURE(dtype_name(t));
        Graph g;
        const Expr idx = g.placeholder("idx", {batch, 5}, DType::i32), dy = g.placeholder("dy", {batch, 5, 300}, t);
        const Expr dw = gather_grad(idx, dy, 30);
        Session s(g, {.threads = 2});
        const Tensor i = random_tensor({64, 5}, DType::i32, 0, 30, 1), d = random_tensor({64, 5, 300}, t, -1, 1, 2);
        const Tensor fast = s.run({dw}, {{idx, i}, {dy, d}})[0];
        Tensor ref(fast.shape(), fast.dtype());
        const Tensor* in[] = {&i, &d};
        dw.node().op->reference(Inputs(in), ref);
        CHECK(max_rel_diff(fast, ref) <= (t == DType::f32 ? 1e-6 : 1e-15));
    }
}

TEST_CASE("expand_dims and squeeze: reshapes by numpy's rules") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    CHECK(expand_dims(x, 1).shape() == Shape{batch, 1, 3});
    CHECK(expand_dims(x, -1).shape() == Shape{batch, 3, 1});
    CHECK(squeeze(expand_dims(x, 1)).shape() == Shape{batch, 3});
    CHECK(squeeze(g.placeholder("y", {1, 4, 1}), {-1}).shape() == Shape{1, 4});
    CHECK_ERROR(expand_dims(x, 3), "axis 3 is not from -3 to 2");
    CHECK_ERROR(squeeze(x, {1}), "axis 1 is not a dim of 1");
}

}  // namespace adjoint::test

namespace adjoint::test {

template <> void op_case<ops::Dropout>() {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 1000});  // fed 40,000 values: several chunks
    const Expr training = g.variable("training", Tensor::zeros({}, DType::u8));
    const Expr step = g.variable("step", Tensor::zeros({}, DType::f64));
    const Expr y = dropout(x, 0.25, 7, training, step);
    Session s(g, {.threads = 2});
    const Tensor ones = Tensor::full({40, 1000}, 1.0);
    // Not training: x itself.
    CHECK(bitwise_equal(s.run({y}, {{x, ones}})[0], ones));
    // Training: a quarter zeroed, the rest scaled by 4/3; the mask is the hash's.
    s.set_value(training, Tensor::full({}, 1, DType::u8));
    const Tensor a = s.run({y}, {{x, ones}})[0];
    std::int64_t kept = 0;
    bool as_hashed = true;
    for (std::int64_t i = 0; i < a.numel(); ++i) {
        const float v = a.data<float>()[static_cast<std::size_t>(i)];
        kept += v != 0;
        as_hashed = as_hashed && (v != 0) == ops::dropout_keeps(7, 0, i, 0.25) && (v == 0 || v == 1.f / 0.75f);
    }
    CHECK(as_hashed);
    CHECK(kept > 29400);
    CHECK(kept < 30600);
    // Another step, another mask; the same step, the same mask (on 1 thread too).
    s.set_value(step, Tensor::full({}, 1, DType::f64));
    CHECK(!bitwise_equal(s.run({y}, {{x, ones}})[0], a));
    Session one(g, {.threads = 1});  // its own variables: step 0
    one.set_value(training, s.value(training));
    CHECK(bitwise_equal(one.run({y}, {{x, ones}})[0], a));
    // The kernel against the reference, and the gradient (the same mask on dy).
    // The gradient: the same mask on dy.
    check_op_gradients(
        [](Exprs e) {
            const Expr on = e[0].graph().constant(Tensor::full({}, 1.0, DType::u8));
            const Expr st = e[0].graph().constant(Tensor::full({}, 3.0, DType::f64));
            return dropout(e[0] * e[0], 0.5, 11, on, st);
        },
        {{Shape{4, 5}}});
    CHECK_ERROR(dropout(x, 1.0, 1, training, step), "rate 1 is not in [0, 1)");
    CHECK_ERROR(dropout(x, 1 - 0x1p-25, 1, training, step), "is not in [0, 1) in f32");
    s.set_value(step, Tensor::full({}, NAN, DType::f64));
    CHECK_ERROR(s.run({y}, {{x, ones}}), "the step nan is not a whole number");
    s.set_value(step, Tensor::zeros({}, DType::f64));
    CHECK_ERROR(dropout(x, 0.5, 1, step, step), "the training flag is f64 (); it must be a u8 scalar");
}

TEST_CASE("dropout: the fast kernel against the reference, f32 and f64, training or not") {
    for (DType t : {DType::f32, DType::f64})
        for (int on : {0, 1}) {
            CAPTURE(dtype_name(t));
            CAPTURE(on);
            Graph g;
            const Expr x = g.placeholder("x", {batch, 300}, t);
            const Expr flag = g.placeholder("flag", {}, DType::u8), step = g.placeholder("step", {}, DType::f64);
            const Expr y = dropout(x, 0.3, 5, flag, step);
            Session s(g, {.threads = 2});
            const Tensor xv = edge_tensor({64, 300}, t, 3), fv = Tensor::full({}, on, DType::u8),
                         sv = Tensor::full({}, 12, DType::f64);
            const Tensor fast = s.run({y}, {{x, xv}, {flag, fv}, {step, sv}})[0];
            Tensor ref(fast.shape(), fast.dtype());
            const Tensor* in[] = {&xv, &fv, &sv};
            y.node().op->reference(Inputs(in), ref);
            CHECK(same_bits_or_nan(fast, ref));
        }
}

}  // namespace adjoint::test
