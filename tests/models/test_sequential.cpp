// Sequential: the Keras API end to end on small synthetic data, pinned losses, summary,
// callbacks, checkpoints, and the errors of each entry point.
#include <filesystem>
#include <fstream>

#include "../helpers.hpp"

namespace adjoint::test {

namespace {

namespace fs = std::filesystem;

// 300 samples of 20 features in [0, 255] (u8, as images) and 3 classes that depend on them.
struct Toy {
    Tensor x, labels, onehot;
    Toy(std::int64_t n = 300, std::uint64_t seed = 1) {
        x = random_tensor({n, 20}, DType::u8, 0, 256, seed);
        labels = Tensor({n}, DType::u8);
        for (std::int64_t i = 0; i < n; ++i) {
            const auto* r = x.data<std::uint8_t>().data() + i * 20;
            labels.data<std::uint8_t>()[i] = static_cast<std::uint8_t>((r[0] + r[1] > r[2] + r[3]) + (r[4] > 128));
        }
        onehot = to_categorical(labels, 3);
    }
};

std::unique_ptr<Sequential> model(std::uint64_t seed = 7, const std::string& opt = "rmsprop", double lr = 0.01) {
    auto m = std::make_unique<Sequential>(SequentialOptions{.seed = seed, .threads = 2});
    m->add(Dense(16, "relu", 20));
    m->add(Dense(3, "softmax"));
    m->compile(*make_optimizer(opt, lr), "categorical_crossentropy", {"accuracy"});
    return m;
}

std::vector<Tensor> weights(Sequential& m) {
    std::vector<Tensor> w;
    for (const Expr& e : m.trainable_weights()) w.push_back(m.session().value(e));
    return w;
}

bool same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!bitwise_equal(a[i], b[i])) return false;
    return true;
}

}  // namespace

TEST_CASE("Sequential: the MNIST network's summary, as Keras prints it") {
    Sequential network;
    network.add(Dense(512, "relu", 28 * 28L));
    network.add(Dense(10, "softmax"));
    network.compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
    CHECK(network.param_count() == 407050);
    const std::string s = network.summary();
    CHECK(s.find(" dense (Dense)              (None, 512)               401920\n") != std::string::npos);
    CHECK(s.find(" dense_1 (Dense)            (None, 10)                5130\n") != std::string::npos);
    CHECK(s.find("Total params: 407,050\nTrainable params: 407,050\nNon-trainable params: 0\n") != std::string::npos);
    CHECK(network.trainable_weights()[0].name() == "dense/kernel");
    CHECK(network.trainable_weights()[3].name() == "dense_1/bias");
}

TEST_CASE("Sequential: a tiny training run with pinned losses") {
    Toy data;
    auto m = model();
    const History h = m->fit(data.x, data.onehot, {.epochs = 3, .batch_size = 32});
    REQUIRE(h.epochs.size() == 3);
    // Pinned for seed 7 (the same on any thread count: runs are bit-for-bit deterministic).
    MESSAGE(fmt::format("losses {:.7f} {:.7f} {:.7f}", h.epochs[0].loss, h.epochs[1].loss, h.epochs[2].loss));
    CHECK(h.epochs[0].loss == doctest::Approx(1.0717893).epsilon(1e-5));
    CHECK(h.epochs[1].loss == doctest::Approx(0.9621597).epsilon(1e-5));
    CHECK(h.epochs[2].loss == doctest::Approx(0.8785616).epsilon(1e-5));
    CHECK(h.epochs[2].loss < h.epochs[0].loss);
    CHECK(h.epochs[0].samples == 300);
    // The same seed trains to the same weights; another seed does not.
    auto again = model();
    again->fit(data.x, data.onehot, {.epochs = 3, .batch_size = 32});
    CHECK(same_weights(weights(*m), weights(*again)));
    auto other = model(8);
    other->fit(data.x, data.onehot, {.epochs = 3, .batch_size = 32});
    CHECK(!same_weights(weights(*m), weights(*other)));
}

TEST_CASE("Sequential: learns, evaluates, predicts; sparse labels and other optimizers") {
    Toy data(600), test(300, 2);
    for (const auto& [name, rate] : {std::pair{"sgd", 0.1}, {"momentum", 0.05}, {"rmsprop", 0.01}, {"adam", 0.01}}) {
        const std::string opt = name;
        const double lr = rate;
        CAPTURE(opt);
        auto m = model(3, opt, lr);
        const Evaluation before = m->evaluate(test.x, test.onehot);
        const History h = m->fit(data.x, data.onehot,
                                 {.epochs = 20, .batch_size = 32, .validation_data = std::pair{test.x, test.onehot}});
        const Evaluation after = m->evaluate(test.x, test.onehot);
        CHECK(after.loss < before.loss);
        CHECK(after.accuracy > 0.7);
        CHECK(*h.epochs.back().val_accuracy == doctest::Approx(after.accuracy));
        const Tensor p = m->predict(test.x);
        CHECK(p.shape() == Shape{300, 3});
        for (std::int64_t i = 0; i < 300; i += 37) {
            const float* row = p.data<float>().data() + 3 * i;
            CHECK(row[0] + row[1] + row[2] == doctest::Approx(1));
        }
    }
    Sequential sparse({.seed = 1});
    sparse.add(Dense(16, "relu", 20));
    sparse.add(Dense(3, "softmax"));
    sparse.compile(Adam(0.01), "sparse_categorical_crossentropy", {"accuracy"});
    sparse.fit(data.x, data.labels, {.epochs = 20});
    CHECK(sparse.evaluate(test.x, test.labels).accuracy > 0.7);
    Sequential mse({.seed = 1});
    mse.add(Dense(3, "sigmoid", 20));
    mse.compile(SGD(0.5), "mse", {"accuracy"});
    const double first = mse.fit(data.x, data.onehot, {.epochs = 1}).epochs[0].loss;
    CHECK(mse.fit(data.x, data.onehot, {.epochs = 5}).epochs.back().loss < first);
}

TEST_CASE("Sequential: callbacks stop on NaN and save the best weights") {
    Toy data;
    TempDir dir;
    auto m = std::make_unique<Sequential>(SequentialOptions{.seed = 1});
    m->add(Dense(16, "relu", 20));
    m->add(Dense(3, "linear"));
    m->compile(SGD(1e30), "mse");
    StopOnNaN stop;
    const History h = m->fit(data.x, data.onehot, {.epochs = 5, .callbacks = {&stop}});
    CHECK(h.stopped_because.find("the loss became") != std::string::npos);
    CHECK(h.epochs.size() == 1);

    auto good = model();
    SaveBest best(dir / "best.ckpt", "val_accuracy");
    good->fit(data.x, data.onehot,
              {.epochs = 3, .validation_data = std::pair{data.x, data.onehot}, .callbacks = {&best}});
    REQUIRE(best.best().has_value());
    CHECK(fs::exists(dir / "best.ckpt"));
    CHECK_ERROR(SaveBest("x", "f1"), "cannot monitor \"f1\"");
    SaveBest needs_val(dir / "x.ckpt");
    CHECK_ERROR(good->fit(data.x, data.onehot, {.epochs = 1, .callbacks = {&needs_val}}), "no validation data");
}

TEST_CASE("Sequential: checkpoints round-trip bit for bit; a bad file changes nothing") {
    Toy data;
    TempDir dir;
    auto m = model();
    m->fit(data.x, data.onehot, {.epochs = 1});
    m->save_weights(dir / "w.ckpt");
    CHECK((fs::status(dir / "w.ckpt").permissions() & fs::perms::others_read) !=
          fs::perms::none);  // not mkstemp's 0600
    const auto trained = weights(*m);
    auto fresh = model(99);
    fresh->load_weights(dir / "w.ckpt");
    CHECK(same_weights(weights(*fresh), trained));
    CHECK(fresh->evaluate(data.x, data.onehot).loss == m->evaluate(data.x, data.onehot).loss);

    // Corrupt copies: every one is refused and leaves the weights as they were.
    std::string bytes;
    {
        std::ifstream f(dir / "w.ckpt", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    auto write = [&](const std::string& name, const std::string& content) {
        std::ofstream(dir / name, std::ios::binary) << content;
        return dir / name;
    };
    auto other = model(5);
    const auto before = weights(*other);
    std::string flipped = bytes;
    flipped[flipped.size() - 10] ^= 0x40;
    CHECK_ERROR(other->load_weights(write("flip", flipped)), "fails its CRC-32 check");
    CHECK_ERROR(other->load_weights(write("short", bytes.substr(0, bytes.size() - 7))), "is truncated");
    std::string magic = bytes;
    magic[0] = 'X';
    CHECK_ERROR(other->load_weights(write("magic", magic)), "bad magic");
    CHECK_ERROR(other->load_weights(write("tail", bytes + "x")), "1 trailing bytes");
    std::string version = bytes;
    version[8] = 2;
    CHECK_ERROR(other->load_weights(write("version", version)), "format version 2");
    CHECK_ERROR(other->load_weights(dir / "none"), "cannot open");
    // A checkpoint of another architecture.
    Sequential wide({.seed = 1});
    wide.add(Dense(32, "relu", 20));
    wide.add(Dense(3, "softmax"));
    wide.compile(RMSprop(), "categorical_crossentropy");
    wide.save_weights(dir / "wide.ckpt");
    CHECK_ERROR(other->load_weights(dir / "wide.ckpt"),
                "\"dense/kernel\" is f32 (20, 32) in the file but f32 (20, 16) in the model");
    save_checkpoint(dir / "partial.ckpt", {{"dense/kernel", Tensor::zeros({20, 16})}});
    CHECK_ERROR(other->load_weights(dir / "partial.ckpt"), "has no tensor \"dense/bias\"");
    CHECK(same_weights(weights(*other), before));

    // A save that fails leaves the old file as it was.
    fs::create_directory(dir / "ro");
    m->save_weights(dir / "ro/w.ckpt");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    if (getuid() != 0) {  // root writes anyway
        CHECK_ERROR(m->save_weights(dir / "ro/w.ckpt"), "cannot create a temporary file");
    }
    fs::permissions(dir / "ro", fs::perms::owner_all);
    CHECK(load_checkpoint(dir / "ro/w.ckpt").size() == 4);
    CHECK_ERROR(m->save_weights(dir / "missing/dir/w.ckpt"), "cannot create a temporary file");
    // No temporary file (".<name>.XXXXXX", as mkstemp fills it in) is left behind.
    for (const std::string& folder : {dir.path.string(), dir / "ro"})
        for (const auto& e : fs::directory_iterator(folder)) {
            CAPTURE(e.path().string());
            CHECK(e.path().filename().string().front() != '.');
        }
}

TEST_CASE("Sequential: errors name the call and the values") {
    Toy data;
    Sequential m;
    CHECK_ERROR(m.add(Dense(4, "relu")), "the first layer (Dense) needs its input shape");
    CHECK_ERROR(Dense(0, "relu", 3), "units is 0");
    CHECK_ERROR(Dense(4, "rellu", 3), "unknown activation \"rellu\"");
    m.add(Dense(4, "relu", 20));
    CHECK_ERROR(m.fit(data.x, data.onehot), "Sequential::fit: call compile() first");
    CHECK_ERROR(m.compile(RMSprop(), "hinge"), "unknown loss \"hinge\"");
    CHECK_ERROR(m.compile(RMSprop(), "mse", {"f1"}), "unknown metric \"f1\"");
    m.add(Dense(3, "softmax"));
    m.compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
    CHECK_ERROR(m.add(Dense(2)), "already compiled");
    CHECK_ERROR(m.fit(Tensor::zeros({300, 21}), data.onehot),
                "inputs (300, 21) have 21 values per sample; the model takes 20");
    CHECK_ERROR(m.fit(data.x, data.labels), "the targets of categorical_crossentropy must be f32 of shape (300, 3)",
                "to_categorical");
    CHECK_ERROR(m.fit(data.x, data.onehot, {.batch_size = 0}), "batch_size is 0");
    CHECK_ERROR(m.evaluate(data.x, Tensor::zeros({299, 3})), "Sequential::evaluate", "(300, 3)");
    CHECK_ERROR(m.predict(Tensor::zeros({5, 20}, DType::f64)), "inputs must be u8 or f32");
    CHECK_ERROR(m.layer<Dense>(7), "there is no layer 7 (the model has 2)");
    Sequential named;
    Dense first(4, "relu", 20);
    first.name = "hidden";
    named.add(first);
    Dense twice(2);
    twice.name = "hidden";
    CHECK_ERROR(named.add(twice), "a layer is already named \"hidden\"");
}

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
    CHECK(m.layers()[0]->name == "affine");
    CHECK(m.layers()[2]->name == "affine_1");
    CHECK(m.layers()[3]->name == "dense_1");
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

}  // namespace adjoint::test
