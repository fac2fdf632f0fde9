// Layers that act differently while training (Dropout, BatchNormalization), the training
// flag fit sets, non-trainable weights in summaries and checkpoints, and Activation.
#include <tbb/global_control.h>

#include "toy.hpp"

namespace adjoint::test {

namespace {

std::unique_ptr<Sequential> with_dropout(std::uint64_t seed, int threads = 2, const Optimizer& opt = RMSprop(0.01)) {
    auto m = std::make_unique<Sequential>(SequentialOptions{.seed = seed, .threads = threads});
    m->add(Dense(32, "relu", 20));
    m->add(Dropout(0.5));
    m->add(Dense(3, "softmax"));
    m->compile(opt, "categorical_crossentropy", {"accuracy"});
    return m;
}

std::vector<Tensor> all_weights(Sequential& m) {
    std::vector<Tensor> w;
    for (const Expr& e : m.weights()) w.push_back(m.session().value(e));
    return w;
}

}  // namespace

TEST_CASE("Dropout: masks while training only, the same bits on any thread count, resumable") {
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    Toy data;
    auto m = with_dropout(4);
    REQUIRE(m->training_flag());
    CHECK(m->session().value(*m->training_flag()).item<std::uint8_t>() == 0);
    // Inference is deterministic and mask-free: predict twice, the same; the flag is 0.
    const Tensor p1 = m->predict(data.x);
    CHECK(bitwise_equal(m->predict(data.x), p1));
    const History h = m->fit(data.x, data.onehot, {.epochs = 4, .batch_size = 30});
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
    CHECK(m->session().value(*m->training_flag()).item<std::uint8_t>() == 0);   // reset after fit
    CHECK(m->session().value(m->layer<Dropout>(1).step).item<double>() == 40);  // 4 epochs of 10 steps
    // The training loss carries the masks: evaluating (no dropout) on the training data
    // scores better than the last epoch's running loss of this small net.
    CHECK(m->evaluate(data.x, data.onehot).loss < h.epochs.back().loss);
    // The same bits on 1 and 4 threads.
    for (int threads : {1, 4}) {
        auto other = with_dropout(4, threads);
        other->fit(data.x, data.onehot, {.epochs = 4, .batch_size = 30});
        CHECK(same_weights(weights(*other), weights(*m)));
    }
    // Saved after 2 epochs and resumed, training equals 4 epochs straight: the step
    // counter (a non-trainable weight) travels with the checkpoint, and so the masks.
    // (Plain SGD: it has no slots, which checkpoints do not hold.)
    TempDir dir;
    const FitOptions two{.epochs = 2, .batch_size = 30, .shuffle = false};
    auto first = with_dropout(4, 2, SGD(0.05));
    first->fit(data.x, data.onehot, two);
    first->save_weights(dir / "half.ckpt");
    first->fit(data.x, data.onehot, two);
    auto resumed = with_dropout(4, 2, SGD(0.05));  // the same model seed: the same mask seed
    resumed->load_weights(dir / "half.ckpt");
    CHECK(resumed->session().value(resumed->layer<Dropout>(1).step).item<double>() == 20);
    resumed->fit(data.x, data.onehot, two);
    CHECK(same_weights(weights(*resumed), weights(*first)));
    CHECK(m->summary().find(" dropout (Dropout)          (None, 32)                0\n") != std::string::npos);
    CHECK_ERROR(Dropout(1.0), "Dropout: rate 1 is not in [0, 1)");
    // A model without such layers has no flag.
    CHECK(!model()->training_flag());
}

TEST_CASE("BatchNormalization: batch statistics while training, moving ones after; counted and saved") {
    Toy data;
    auto build = [](std::uint64_t seed) {
        auto m = std::make_unique<Sequential>(SequentialOptions{.seed = seed, .threads = 2});
        m->add(Dense(16, "linear", 20));
        m->add(BatchNormalization());
        m->add(ActivationLayer("relu"));
        m->add(Dense(3, "softmax"));
        m->compile(RMSprop(0.01), "categorical_crossentropy", {"accuracy"});
        return m;
    };
    auto m = build(2);
    const std::string s = m->summary();
    INFO(s);
    CHECK(s.find(" batch_normalization (BatchNormalization)(None, 16)                64\n") != std::string::npos);
    CHECK(s.find(" activation (Activation)    (None, 16)                0\n") != std::string::npos);
    CHECK(s.find("Total params: 451\nTrainable params: 419\nNon-trainable params: 32\n") != std::string::npos);
    CHECK(m->trainable_weights().size() == 6);
    CHECK(m->weights().size() == 8);
    const History h = m->fit(data.x, data.onehot, {.epochs = 5, .batch_size = 30});
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
    // The moving statistics moved (50 steps of momentum 0.99), toward the batch's.
    const auto& bn = m->layer<BatchNormalization>(1);
    const Tensor mm = m->session().value(bn.moving_mean), mv = m->session().value(bn.moving_variance);
    CHECK(std::abs(mm.data<float>()[0]) > 1e-3);
    CHECK(mv.data<float>()[0] != 1.f);
    // Inference uses them: the output of one sample does not depend on its batch.
    const Tensor all = m->predict(data.x, 300), one = m->predict(data.x, 1);
    CHECK(max_rel_diff(all, one) < 1e-6);
    // Checkpoints carry them.
    TempDir dir;
    m->save_weights(dir / "bn.ckpt");
    auto fresh = build(9);
    fresh->load_weights(dir / "bn.ckpt");
    CHECK(same_weights(all_weights(*fresh), all_weights(*m)));
    CHECK(bitwise_equal(fresh->predict(data.x), m->predict(data.x)));
    CHECK_ERROR(BatchNormalization(1.5), "momentum 1.5 is not in [0, 1]");
    CHECK_ERROR(BatchNormalization(0.99, 0), "epsilon 0 is not positive and finite");
}

TEST_CASE("BatchNormalization on images normalizes each channel over batch, height and width") {
    // Training mode, gamma 1, beta 0: every channel of the output has mean 0, variance ~1.
    Sequential m({.seed = 1, .threads = 2});
    m.add(Conv2D(4, {3, 3}, "linear", Shape{8, 8, 1}));
    m.add(BatchNormalization());
    m.add(Flatten());  // (6 * 6 * 4,) per image, the channel still the fastest index
    m.compile(SGD(0.01), "mse");
    const Tensor x = random_tensor({16, 8, 8, 1}, DType::f32, 0, 100, 3);  // a variance far above epsilon
    m.session().set_value(*m.training_flag(), Tensor::full({}, 1, DType::u8));
    const Tensor y = m.session().run({m.output()}, {{m.input(), x}})[0];
    REQUIRE(y.shape() == Shape{16, 144});
    for (int c = 0; c < 4; ++c) {
        double sum = 0, sq = 0;
        for (std::int64_t i = c; i < y.numel(); i += 4) sum += y.data<float>()[static_cast<std::size_t>(i)];
        const double mean = sum / (16 * 36);
        for (std::int64_t i = c; i < y.numel(); i += 4)
            sq += std::pow(y.data<float>()[static_cast<std::size_t>(i)] - mean, 2);
        CAPTURE(c);
        CHECK(std::abs(mean) < 1e-5);
        CHECK(sq / (16 * 36) == doctest::Approx(1).epsilon(0.01));
    }
    // Not training, with the initial moving statistics (0 and 1): y = x / sqrt(1 + 0.001).
    m.session().set_value(*m.training_flag(), Tensor::full({}, 0, DType::u8));
    const Tensor z = m.session().run({m.output()}, {{m.input(), x}})[0];
    const Tensor conv = m.session().run({*m.graph().find("conv2d/conv2d")}, {{m.input(), x}})[0];
    CHECK(z.data<float>()[5] == doctest::Approx(conv.data<float>()[5] / std::sqrt(1.001)).epsilon(1e-6));
}

}  // namespace adjoint::test
