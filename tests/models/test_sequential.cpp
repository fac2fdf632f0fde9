// Sequential: the Keras API end to end on small synthetic data, pinned losses, summary,
// callbacks, and the errors of each entry point.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include <tbb/global_control.h>

#include "toy.hpp"

namespace adjoint::test {

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

TEST_CASE("Sequential: an epoch of the MNIST recipe gives the same bits thrice, and on 1, 2 and 4 threads") {
    // MNIST's shapes (784 u8 pixels, 512 hidden units, 10 classes) on 1536 synthetic
    // samples: 12 shuffled batches of RMSprop, big enough that the matmuls and reductions
    // are cut into chunks across threads. 4 threads run for real even on 2 cores.
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    const Tensor x = random_tensor({1536, 784}, DType::u8, 0, 256, 3);
    const Tensor y = to_categorical(random_tensor({1536}, DType::u8, 0, 10, 4), 10);
    auto train = [&](int threads) {
        Sequential m({.seed = 11, .threads = threads});
        m.add(Dense(512, "relu", 784));
        m.add(Dense(10, "softmax"));
        m.compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
        REQUIRE(m.session().threads() == threads);
        m.fit(x, y, {.epochs = 1, .batch_size = 128});
        return weights(m);
    };
    const std::vector<Tensor> first = train(2);
    CHECK(same_weights(train(2), first));
    CHECK(same_weights(train(2), first));
    CHECK(same_weights(train(1), first));
    CHECK(same_weights(train(4), first));
    // The weights did move: the comparison is not between initial values.
    Sequential untrained({.seed = 11});
    untrained.add(Dense(512, "relu", 784));
    untrained.add(Dense(10, "softmax"));
    untrained.compile(RMSprop(), "categorical_crossentropy");
    CHECK(!same_weights(weights(untrained), first));
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

TEST_CASE("Sequential: binary cross-entropy, binary accuracy and mean absolute error") {
    // XOR: Keras' accuracy for one sigmoid output is binary (y > 0.5 against 0 or 1).
    const Tensor x = Tensor::from({{0.f, 0.f}, {0.f, 1.f}, {1.f, 0.f}, {1.f, 1.f}});
    const Tensor y = Tensor::from({{0.f}, {1.f}, {1.f}, {0.f}});
    Sequential xor_net({.seed = 1, .threads = 2});
    xor_net.add(Dense(8, "tanh", 2));
    xor_net.add(Dense(1, "sigmoid"));
    xor_net.compile(Adam(0.05), "binary_crossentropy", {"accuracy"});
    const Evaluation before = xor_net.evaluate(x, y);
    xor_net.fit(x, y, {.epochs = 300, .batch_size = 4});
    const Evaluation after = xor_net.evaluate(x, y);
    CHECK(after.loss < 0.1 * before.loss);
    CHECK(after.accuracy == 1.0);
    // From the logits: the loss has no log node, and stays finite where the sigmoid saturates.
    bool has_log = false;
    for (NodeId id = 0; id < xor_net.graph().size(); ++id) has_log |= xor_net.graph().node(id).op_name() == "log";
    CHECK_FALSE(has_log);
    // Without a sigmoid node: Keras' clipped formula, equal to the exact one inside the clip.
    Graph g;
    const Expr p = g.placeholder("p", {batch, 2});
    const Expr t = g.placeholder("t", {batch, 2});
    Session s(g);
    const Tensor got = s.run({binary_crossentropy(p, t), mean_absolute_error(p, t)},
                             {{p, Tensor::from({{0.25f, 0.f}})}, {t, Tensor::from({{1.f, 0.f}})}})[0];
    CHECK(got.item<float>() == doctest::Approx(-(std::log(0.25) + std::log(1 - 1e-7)) / 2).epsilon(1e-6));
    const Tensor mae =
        s.run({mean_absolute_error(p, t)}, {{p, Tensor::from({{0.25f, 3.f}})}, {t, Tensor::from({{1.f, 0.f}})}})[0];
    CHECK(mae.item<float>() == doctest::Approx((0.75 + 3) / 2));
    CHECK(Loss::from_name("mae").name == "mean_absolute_error");
    CHECK(Loss::from_name("binary_crossentropy").name == "binary_crossentropy");
}

TEST_CASE("Sequential: check_numerics stops fit at the first non-finite node, naming the step, weights finite") {
    Toy data;
    for (const bool check : {false, true}) {
        Sequential m({.seed = 1, .check_numerics = check});
        m.add(Dense(16, "relu", 20));
        m.add(Dense(3, "linear"));
        m.compile(SGD(1e30), "mse");
        bool finite = true;
        if (check) {
            CHECK_ERROR(m.fit(data.x, data.onehot, {.epochs = 5}), "Sequential::fit (", "test_sequential.cpp",
                        ") at step ", "check_numerics: node", "No variable was changed");
        } else {
            m.fit(data.x, data.onehot, {.epochs = 5});  // goes on, with NaN weights
        }
        for (const Expr& w : m.trainable_weights()) finite = finite && all_finite(m.session().value(w));
        CHECK(finite == check);
    }
}

TEST_CASE("Sequential: the training graph has one sum per statistic and no gradient of a count") {
    auto m = model();
    std::ostringstream text;
    dump_text(m->graph(), text);
    const std::string t = text.str();
    INFO(t);
    CHECK(t.find("loss/sum = sum") != std::string::npos);
    CHECK(t.find("accuracy/sum = sum") != std::string::npos);
    CHECK(t.find("sum_1") == std::string::npos);  // the mean and the sum share one node
    CHECK(t.find("by the element_count rule") == std::string::npos);
    CHECK(t.find("grad/loss/div/neg") == std::string::npos);  // d loss / d count: not built
    // Two builds of one model dump the same, text and DOT: dumps diff cleanly.
    auto again = model();
    std::ostringstream text2, dot1, dot2;
    dump_text(again->graph(), text2);
    dump_dot(m->graph(), dot1);
    dump_dot(again->graph(), dot2);
    CHECK(text2.str() == t);
    CHECK(dot1.str() == dot2.str());
}

TEST_CASE("Sequential: Watch prints statistics of forward, variable and gradient nodes, and changes nothing") {
    Toy data;  // 300 samples, batch 32: 10 steps an epoch
    auto plain = model();
    plain->fit(data.x, data.onehot, {.epochs = 2});
    auto watched = model();
    std::ostringstream out;
    Watch watch(watched->graph(), {"dense/kernel", "dense_1/matmul_bias", "grad/dense/matmul_bias/matmul"}, 4, out);
    watched->fit(data.x, data.onehot, {.epochs = 2, .callbacks = {&watch}});
    // Steps 4, 8, 12, 16, 20 of 20, three lines each (the last batch of an epoch has 12 rows).
    const std::string text = out.str();
    INFO(text);
    CHECK(text.find("watch step 20 \"dense_1/matmul_bias\" f32 (12, 3): min ") != std::string::npos);
    CHECK(std::count(text.begin(), text.end(), '\n') == 15);
    CHECK(text.find("watch step 4 \"dense/kernel\" f32 (20, 16): min ") == 0);
    CHECK(text.find("watch step 20 \"grad/dense/matmul_bias/matmul\" f32 (20, 16): min ") != std::string::npos);
    CHECK(text.find("watch step 12 \"dense_1/matmul_bias\" f32 (32, 3): min ") != std::string::npos);
    CHECK(text.find("watch step 3 ") == std::string::npos);
    // The watched steps fetch more, through another plan: the same weights, bit for bit.
    const auto a = weights(*plain), b = weights(*watched);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(values(a[i]) == values(b[i]));
    // A variable's value is the one the step read: at step 1, the initial kernel.
    auto fresh = model();
    std::ostringstream first;
    Watch every_step(fresh->graph(), {"dense/kernel"}, 1, first);
    const Tensor initial = fresh->session().value(fresh->trainable_weights()[0]);
    fresh->fit(data.x, data.onehot, {.epochs = 1, .callbacks = {&every_step}});
    CHECK(first.str().starts_with(
        fmt::format("watch step 1 \"dense/kernel\" f32 (20, 16): {}\n", to_string(tensor_stats(initial)))));

    CHECK_ERROR(Watch(watched->graph(), {"dense/kernel", "nope"}, 4, out), "no node named \"nope\"");
    CHECK_ERROR(Watch(watched->graph(), {"dense/kernel"}, 0, out), "every is 0");
}

TEST_CASE("Sequential: Watch as JSON writes null for NaN and infinity") {
    Toy data;
    Sequential m({.seed = 1});
    m.add(Dense(16, "relu", 20));
    m.add(Dense(3, "linear"));
    m.compile(SGD(1e30), "mse");
    std::ostringstream out;
    Watch watch(m.graph(), {"dense/kernel", "loss/div"}, 1, out, true);
    m.fit(data.x, data.onehot, {.epochs = 1, .callbacks = {&watch}});
    const std::string text = out.str();
    INFO(text);
    CHECK(text.starts_with(R"({"watch": "dense/kernel", "step": 1, "min": )"));
    // The loss, once NaN: every statistic null, one NaN.
    CHECK(text.find(
              R"({"watch": "loss/div", "step": 10, "min": null, "max": null, "mean": null, "l2": null, "nan": 1, )") !=
          std::string::npos);
    CHECK(text.find("nan,") == std::string::npos);
    CHECK(text.find("inf,") == std::string::npos);
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
    INFO(h.stopped_because);
    CHECK(h.stopped_because.find("the loss became ") != std::string::npos);
    CHECK(h.stopped_because.find(" at step ") != std::string::npos);
    CHECK(h.stopped_because.find("-nan") == std::string::npos);
    CHECK(h.epochs.size() == 1);

    auto good = model();
    SaveBest best(dir / "best.ckpt", "val_accuracy");
    good->fit(data.x, data.onehot,
              {.epochs = 3, .validation_data = std::pair{data.x, data.onehot}, .callbacks = {&best}});
    REQUIRE(best.best().has_value());
    CHECK(std::filesystem::exists(dir / "best.ckpt"));
    CHECK_ERROR(SaveBest("x", "f1"), "cannot monitor \"f1\"");
    SaveBest needs_val(dir / "x.ckpt");
    CHECK_ERROR(good->fit(data.x, data.onehot, {.epochs = 1, .callbacks = {&needs_val}}), "no validation data");
}

TEST_CASE("Sequential: errors name the call and the values") {
    Toy data;
    Sequential m;
    CHECK_ERROR(m.add(Dense(4, "relu")), "the first layer (Dense) needs its input shape");
    CHECK_ERROR(Dense(0, "relu", 3), "units is 0");
    CHECK_ERROR(Dense(4, "rellu", 3), "unknown activation \"rellu\"");
    m.add(Dense(4, "relu", 20));
    // The line of the call, in the model's errors and in those of the runs it makes.
    const int line = __LINE__ + 1;
    const std::string early = error_of([&] { m.fit(data.x, data.onehot); });
    CHECK(early.find(fmt::format("test_sequential.cpp:{}): call compile() first", line)) != std::string::npos);
    CHECK_ERROR(m.compile(RMSprop(), "hinge"), "Sequential::compile (", "test_sequential.cpp",
                "unknown loss \"hinge\"");
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
    CHECK_ERROR(m.fit(Tensor::zeros({0, 20}, DType::u8), Tensor::zeros({0, 3})), "the inputs (0, 20) hold no samples");
    CHECK_ERROR(m.layer<Dense>(7), "there is no layer 7 (the model has 2)");
    // Labels out of the output's classes are refused naming the sample, before any run.
    Sequential sparse({.seed = 1});
    sparse.add(Dense(3, "softmax", 20));
    sparse.compile(SGD(0.1), "sparse_categorical_crossentropy");
    Tensor labels = data.labels.clone();
    labels.data<std::uint8_t>()[17] = 3;
    CHECK_ERROR(sparse.fit(data.x, labels), "Sequential::fit (",
                "label 3 of sample 17 is not one of the output's 3 classes");
    CHECK_ERROR(sparse.evaluate(data.x, labels), "Sequential::evaluate (", "label 3 of sample 17");
    // A compile that fails leaves nothing behind: the next one names its nodes the same.
    Sequential retry;
    retry.add(Dense(3, "softmax", 20));
    const Loss wrong{"per_batch", Loss::Targets::like_output, [](const Expr& y, const Expr& t) { return sum(y - t); }};
    CHECK_ERROR(retry.compile(SGD(0.1), wrong), "Sequential::compile (", "one per sample");
    CHECK(retry.graph().size() == 0);
    retry.compile(SGD(0.1), "categorical_crossentropy");
    CHECK(retry.trainable_weights()[0].name() == "dense/kernel");
    CHECK(retry.input().name() == "input");
    Sequential named;
    Dense first(4, "relu", 20);
    first.name = "hidden";
    named.add(first);
    Dense twice(2);
    twice.name = "hidden";
    CHECK_ERROR(named.add(twice), "a layer is already named \"hidden\"");
}

}  // namespace adjoint::test
