// The Layer interface, losses and metrics, activations, and the model's own nodes.
#include <algorithm>

#include "toy.hpp"

namespace adjoint::test {

namespace {

// A layer of the test's own, through the Layer interface alone: y = x * scale + shift,
// one trainable (features,) vector each.
class Affine : public Layer {
public:
    explicit Affine(std::int64_t features_in = 0) {
        if (features_in > 0) input_shape = Shape{features_in};
    }
    std::string_view type() const override { return "Affine"; }
    Shape output_shape(const Shape& input) const override { return input; }
    std::int64_t param_count(const Shape& input) const override { return 2 * input.numel(); }
    Expr build(Graph& g, const Expr& input, std::uint64_t) override {
        const std::int64_t n = input.shape().back();
        scale = g.variable("scale", Tensor::full({n}, 1.0));
        shift = g.variable("shift", Tensor::zeros({n}));
        return input * scale + shift;
    }
    std::vector<Expr> trainable_weights() const override {
        if (!scale.valid()) return {};
        return {scale, shift};
    }
    Expr scale, shift;
};

}  // namespace

TEST_CASE("Sequential: holds any Layer; names, shapes and parameters come from the layers") {
    Toy data;
    Sequential m({.seed = 3, .threads = 2});
    m.add(Affine(20));
    m.add(Dense(8, "tanh"));
    m.add(Affine());
    m.add(Dense(3, "softmax"));
    CHECK(m.layer(0).name == "affine");
    CHECK(m.layer(2).name == "affine_1");
    CHECK(m.layer(3).name == "dense_1");
    CHECK(m.param_count() == 40 + (20 * 8 + 8) + 16 + (8 * 3 + 3));
    const std::string s = m.summary();
    CHECK(s.find(" affine (Affine)            (None, 20)                40\n") != std::string::npos);
    CHECK(s.find(" affine_1 (Affine)          (None, 8)                 16\n") != std::string::npos);
    m.compile(Adam(0.01), "categorical_crossentropy", {"accuracy"});
    CHECK(m.trainable_weights().size() == 8);
    CHECK(m.trainable_weights()[0].name() == "affine/scale");
    CHECK(m.layer<Affine>(2).shift.name() == "affine_1/shift");
    CHECK(m.layer<Dense>(1).kernel.shape() == Shape{20, 8});
    CHECK_ERROR(m.layer<Dense>(0), "layer 0 (\"affine\") is a Affine, not the type asked for");
    const Evaluation before = m.evaluate(data.x, data.onehot);
    m.fit(data.x, data.onehot, {.epochs = 10});
    CHECK(m.evaluate(data.x, data.onehot).loss < before.loss);
    // A layer that cannot take its input is refused when it is added.
    Dense wants_flat(4);
    wants_flat.input_shape = Shape{2, 10};
    Sequential flat;
    CHECK_ERROR(flat.add(wants_flat),
                "Dense \"dense\": one sample is (2, 10); Dense takes samples of shape (features,)");
    CHECK(snake_case("MaxPooling2D") == "max_pooling2d");
    CHECK(snake_case("GlobalAveragePooling2D") == "global_average_pooling2d");
    CHECK(snake_case("Conv2D") == "conv2d");
}

TEST_CASE("Sequential: compile honours its metrics; losses are objects, custom ones too") {
    Toy data;
    // No metrics: no accuracy node, no accuracy in the logs or the evaluation.
    Sequential plain({.seed = 1});
    plain.add(Dense(3, "softmax", 20));
    plain.compile(SGD(0.1), Loss::categorical_crossentropy());
    CHECK(plain.train_fetches().size() == 1);
    bool has_accuracy_node = false;
    for (NodeId i = 0; i < plain.graph().size(); ++i)
        has_accuracy_node = has_accuracy_node || plain.graph().node(i).name.starts_with("accuracy/");
    CHECK(!has_accuracy_node);
    const History h = plain.fit(data.x, data.onehot, {.epochs = 1, .validation_data = std::pair{data.x, data.onehot}});
    CHECK(!h.epochs[0].accuracy.has_value());
    CHECK(!h.epochs[0].val_accuracy.has_value());
    CHECK(h.epochs[0].val_loss.has_value());
    CHECK(std::isnan(plain.evaluate(data.x, data.onehot).accuracy));
    SaveBest best_acc("unused.ckpt", "accuracy");
    CHECK_ERROR(plain.fit(data.x, data.onehot, {.epochs = 1, .callbacks = {&best_acc}}),
                "compile the model with the accuracy metric");
    // With it, by enum.
    Sequential with({.seed = 1});
    with.add(Dense(3, "softmax", 20));
    with.compile(SGD(0.1), Loss::categorical_crossentropy(), {Metric::accuracy});
    CHECK(with.train_fetches().size() == 2);
    CHECK(with.fit(data.x, data.onehot, {.epochs = 1}).epochs[0].accuracy.has_value());
    CHECK(metric_name(metric_from_name("acc")) == "accuracy");
    // Keras' accuracies by name: each the same figure as "accuracy" where its kind fits,
    // and refused where the targets are of another kind.
    auto accuracy_with = [&](const std::string& loss, const std::string& metric, const Tensor& targets) {
        Sequential m({.seed = 1});
        m.add(Dense(3, "softmax", 20));
        m.compile(SGD(0.1), loss, {metric});
        return m.evaluate(data.x, targets).accuracy;
    };
    const double auto_acc = accuracy_with("categorical_crossentropy", "accuracy", data.onehot);
    CHECK(accuracy_with("categorical_crossentropy", "categorical_accuracy", data.onehot) == auto_acc);
    CHECK(accuracy_with("sparse_categorical_crossentropy", "sparse_categorical_accuracy", data.labels) == auto_acc);
    CHECK_ERROR(accuracy_with("categorical_crossentropy", "sparse_categorical_accuracy", data.onehot),
                "sparse_categorical_accuracy: the targets f32 (batch, 3) must be class indices");
    CHECK_ERROR(accuracy_with("sparse_categorical_crossentropy", "categorical_accuracy", data.labels),
                "categorical_accuracy: the targets (batch,) must be one-hot rows");
    CHECK_ERROR(metric_from_name("precision"), "unknown metric \"precision\"", "binary_accuracy");
    Sequential two;
    two.add(Dense(3, "softmax", 20));
    CHECK_ERROR(two.compile(SGD(0.1), "categorical_crossentropy", {"accuracy", "binary_accuracy"}),
                "metrics accuracy and binary_accuracy: a model reports one accuracy");
    // Binary accuracy over several outputs: the share of a sample's outputs right.
    Sequential multi({.seed = 2});
    multi.add(Dense(3, "sigmoid", 20));
    multi.compile(SGD(0.1), "binary_crossentropy", {"binary_accuracy"});
    const double bin = multi.evaluate(data.x, data.onehot).accuracy;
    const Tensor p = multi.predict(data.x);
    double right = 0;
    for (std::int64_t i = 0; i < p.numel(); ++i)
        right += (p.data<float>()[static_cast<std::size_t>(i)] > 0.5f) ==
                 (data.onehot.data<float>()[static_cast<std::size_t>(i)] == 1.f);
    CHECK(bin == doctest::Approx(right / static_cast<double>(p.numel())).epsilon(1e-6));
    CHECK_ERROR(Loss::from_name("hinge"), "unknown loss \"hinge\"");
    // A loss of the user's own: mean absolute error, through the same graph machinery.
    const Loss mae{"mean_absolute_error", Loss::Targets::like_output,
                   [](const Expr& y, const Expr& t) { return mean(sqrt(square(y - t) + 1e-12), {-1}); }};
    Sequential custom({.seed = 1});
    custom.add(Dense(3, "sigmoid", 20));
    custom.compile(Adam(0.01), mae);
    const double first = custom.fit(data.x, data.onehot, {.epochs = 1}).epochs[0].loss;
    CHECK(custom.fit(data.x, data.onehot, {.epochs = 5}).epochs.back().loss < first);
    const Loss wrong{"per_batch", Loss::Targets::like_output, [](const Expr& y, const Expr& t) { return sum(y - t); }};
    Sequential bad;
    bad.add(Dense(3, "softmax", 20));
    CHECK_ERROR(bad.compile(SGD(0.1), wrong), "loss \"per_batch\" gives values of shape (); one per sample");
}

TEST_CASE("Sequential: activations are the element-wise table's, by name") {
    Toy data;
    CHECK_ERROR(Dense(4, "rellu", 3), "unknown activation \"rellu\"", "softplus", "relu", "linear", "softmax");
    const std::vector<std::string_view> names = Activation::names();
    CHECK(std::find(names.begin(), names.end(), "softplus") != names.end());
    for (std::string_view name : {"softplus", "sigmoid", "tanh", "exp", "linear"}) {
        CAPTURE(std::string(name));
        Sequential m({.seed = 2});
        m.add(Dense(6, name, 20));
        m.add(Dense(3, "softmax"));
        m.compile(Adam(0.01), "categorical_crossentropy");
        const Expr hidden = m.graph().expr(m.layer<Dense>(0).bias.id() + 2);  // after kernel, bias and matmul_bias
        CHECK(hidden.node().op_name() == (name == "linear" ? "variable" : name));
        const double first = m.fit(data.x, data.onehot, {.epochs = 1}).epochs[0].loss;
        CHECK(m.fit(data.x, data.onehot, {.epochs = 3}).epochs.back().loss < first);
    }
}

TEST_CASE("Sequential: its placeholders, output, loss and session drive a hand-written step") {
    Toy data;
    auto m = model();
    CHECK(m->input().name() == "input");
    CHECK(m->targets().name() == "targets");
    CHECK(m->output().node().op_name() == "softmax");
    CHECK(m->loss().shape() == Shape{});
    // One step by hand, with the model's own fetches and updates: the same as fit's.
    auto twin = model();
    Batches batches(data.x, data.onehot, 300);
    auto [bx, by] = batches.get(0);
    const auto out = m->session().run(m->train_fetches(), {{m->input(), bx}, {m->targets(), by}}, m->train_updates());
    twin->fit(data.x, data.onehot, {.epochs = 1, .batch_size = 300, .shuffle = false});
    CHECK(same_weights(weights(*m), weights(*twin)));
    CHECK(out[0].item<float>() > 0);
    Sequential uncompiled;
    CHECK_ERROR(uncompiled.input(), "Sequential::input: call compile() first");
}

TEST_CASE("Flatten and Reshape: shapes, summary rows, training through them, errors") {
    // Toy's 20 features as (4, 5) images: Flatten first, Dense after.
    Toy data(300);
    const Tensor images = data.x.view(Shape{300, 4, 5}, DType::u8);
    Sequential m({.seed = 3, .threads = 2});
    m.add(Flatten(Shape{4, 5}));
    m.add(Reshape({2, -1}));
    m.add(Flatten());
    m.add(Dense(16, "relu"));
    m.add(Dense(3, "softmax"));
    m.compile(RMSprop(0.01), "categorical_crossentropy", {"accuracy"});
    const std::string s = m.summary();
    CHECK(s.find(" flatten (Flatten)          (None, 20)                0\n") != std::string::npos);
    CHECK(s.find(" reshape (Reshape)          (None, 2, 10)             0\n") != std::string::npos);
    CHECK(s.find(" flatten_1 (Flatten)        (None, 20)                0\n") != std::string::npos);
    CHECK(m.param_count() == 20 * 16 + 16 + 16 * 3 + 3);
    const History h = m.fit(images, data.onehot, {.epochs = 10, .batch_size = 32});
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
    CHECK(m.predict(images).shape() == Shape{300, 3});
    // The same weights as the flat model give the same outputs: a reshape moves nothing.
    Sequential flat({.seed = 3, .threads = 2});
    flat.add(Dense(16, "relu", 20));
    flat.add(Dense(3, "softmax"));
    flat.compile(RMSprop(0.01), "categorical_crossentropy", {"accuracy"});
    Sequential fresh({.seed = 3, .threads = 2});
    fresh.add(Flatten(Shape{4, 5}));
    fresh.add(Dense(16, "relu"));
    fresh.add(Dense(3, "softmax"));
    fresh.compile(RMSprop(0.01), "categorical_crossentropy");
    for (std::size_t i = 0; i < 4; ++i)
        fresh.session().set_value(fresh.trainable_weights()[i], flat.session().value(flat.trainable_weights()[i]));
    CHECK(adjoint::test::bitwise_equal(fresh.predict(images), flat.predict(data.x)));
    // Shapes and errors.
    CHECK(Reshape({-1, 2}).output_shape(Shape{6}) == Shape{3, 2});
    CHECK(Reshape({28, 28, 1}).output_shape(Shape{784}) == Shape{28, 28, 1});
    CHECK(Flatten().output_shape(Shape{3, 4, 5}) == Shape{60});
    CHECK_ERROR(Reshape({-1, -1}), "more than one -1");
    CHECK_ERROR(Reshape({0, 2}), "dims are positive, or -1");
    CHECK_ERROR(Reshape({-1, 2}).output_shape(Shape{5}), "5 elements of a sample (5,) do not divide");
    CHECK_ERROR(Reshape({4, 2}).output_shape(Shape{6}), "has 6 elements, the target shape (4, 2) has 8");
    Sequential bad;
    bad.add(Flatten(Shape{4, 5}));
    CHECK_ERROR(bad.add(Reshape({3, 3})), "Reshape", "20 elements");
}

TEST_CASE("Embedding: a table row per id, trained through gather; ids out of range are named") {
    // Sequences of 5 ids in [0, 20), fed as f32 whole numbers; the class is the first id mod 3.
    const std::int64_t n = 600;
    Tensor ids = random_tensor({n, 5}, DType::i32, 0, 20, 4);
    Tensor x({n, 5}, DType::f32), labels({n}, DType::u8);
    for (std::int64_t i = 0; i < n * 5; ++i)
        x.data<float>()[static_cast<std::size_t>(i)] =
            static_cast<float>(ids.data<std::int32_t>()[static_cast<std::size_t>(i)]);
    for (std::int64_t i = 0; i < n; ++i)
        labels.data<std::uint8_t>()[static_cast<std::size_t>(i)] =
            static_cast<std::uint8_t>(ids.data<std::int32_t>()[static_cast<std::size_t>(i * 5)] % 3);
    Sequential m({.seed = 5, .threads = 2});
    m.add(Embedding(20, 8, 5));
    m.add(Flatten());
    m.add(Dense(3, "softmax"));
    m.compile(RMSprop(0.01), "sparse_categorical_crossentropy", {"accuracy"});
    const std::string s = m.summary();
    INFO(s);
    CHECK(s.find(" embedding (Embedding)      (None, 5, 8)              160\n") != std::string::npos);
    CHECK(m.trainable_weights()[0].name() == "embedding/embeddings");
    const History h = m.fit(x, labels, {.epochs = 15, .batch_size = 32});
    MESSAGE(fmt::format("loss {:.4f} -> {:.4f}, accuracy {:.3f}", h.epochs.front().loss, h.epochs.back().loss,
                        *h.epochs.back().accuracy));
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
    CHECK(*h.epochs.back().accuracy > 0.95);
    // An id past the table: the run's error names it, and no weight changes.
    const std::vector<Tensor> before = weights(m);
    Tensor bad = x.clone();
    bad.data<float>()[7] = 25;
    CHECK_ERROR(m.fit(bad, labels, {.epochs = 1, .batch_size = 32, .shuffle = false}), "index 25",
                "is not a row of [0, 20)");
    CHECK(same_weights(weights(m), before));
    CHECK_ERROR(Embedding(0, 4), "Embedding: input_dim is 0");
    CHECK_ERROR(Embedding(10, -1), "Embedding: output_dim is -1");
    CHECK_ERROR(Embedding(INT32_MAX, std::int64_t{1} << 40), "is more than 2^40 parameters");
    bad.data<float>()[7] = 2.5f;  // not a whole number: refused, not rounded
    CHECK_ERROR(m.fit(bad, labels, {.epochs = 1, .batch_size = 32, .shuffle = false}), "index 2.5");
}

}  // namespace adjoint::test
