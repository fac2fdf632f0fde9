// The convolutional layers in Sequential: the book's convnet's summary, learning on small
// images, the same bits on any thread count, checkpoints, and the layers' errors.
#include <tbb/global_control.h>

#include "toy.hpp"

namespace adjoint::test {

namespace {

// The book's convnet (Deep Learning with Python, 5.1), as tools/mnist --model convnet.
std::unique_ptr<Sequential> convnet(std::uint64_t seed, int threads = 2, bool fuse = true) {
    auto m = std::make_unique<Sequential>(SequentialOptions{.seed = seed, .threads = threads, .fuse_conv_pool = fuse});
    m->add(Conv2D(32, {3, 3}, "relu", Shape{28, 28, 1}));
    m->add(MaxPooling2D({2, 2}));
    m->add(Conv2D(64, {3, 3}, "relu"));
    m->add(MaxPooling2D({2, 2}));
    m->add(Conv2D(64, {3, 3}, "relu"));
    m->add(Flatten());
    m->add(Dense(64, "relu"));
    m->add(Dense(10, "softmax"));
    m->compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
    return m;
}

// n synthetic 28x28 images whose class is the quadrant holding a bright square (4 classes).
std::pair<Tensor, Tensor> squares(std::int64_t n, std::uint64_t seed) {
    Tensor x = random_tensor({n, 28, 28, 1}, DType::u8, 0, 60, seed);
    const Tensor where = random_tensor({n, 3}, DType::u8, 0, 8, seed + 1);
    Tensor labels({n}, DType::u8);
    for (std::int64_t i = 0; i < n; ++i) {
        const auto* w = where.data<std::uint8_t>().data() + i * 3;
        const std::int64_t q = w[0] % 4, y0 = (q / 2) * 14 + w[1], x0 = (q % 2) * 14 + w[2];
        for (std::int64_t y = y0; y < y0 + 6; ++y)
            for (std::int64_t c = x0; c < x0 + 6; ++c) x.data<std::uint8_t>()[(i * 28 + y) * 28 + c] = 250;
        labels.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(q);
    }
    return {x, to_categorical(labels, 10)};
}

// The graph's nodes of op `op`, by name.
std::vector<std::string> nodes_of(const Sequential& m, std::string_view op) {
    std::vector<std::string> names;
    for (NodeId id = 0; id < m.graph().size(); ++id)
        if (m.graph().node(id).op_name() == op) names.push_back(m.graph().node(id).name);
    return names;
}

}  // namespace

TEST_CASE("Conv2D and MaxPooling2D: the book's convnet's summary, as Keras prints it") {
    auto m = convnet(1);
    CHECK(m->param_count() == 93322);
    const std::string s = m->summary();
    INFO(s);
    CHECK(s.find(" conv2d (Conv2D)            (None, 26, 26, 32)        320\n") != std::string::npos);
    CHECK(s.find(" max_pooling2d (MaxPooling2D)(None, 13, 13, 32)        0\n") != std::string::npos);
    CHECK(s.find(" conv2d_1 (Conv2D)          (None, 11, 11, 64)        18496\n") != std::string::npos);
    CHECK(s.find(" conv2d_2 (Conv2D)          (None, 3, 3, 64)          36928\n") != std::string::npos);
    CHECK(s.find(" flatten (Flatten)          (None, 576)               0\n") != std::string::npos);
    CHECK(s.find(" dense (Dense)              (None, 64)                36928\n") != std::string::npos);
    CHECK(s.find("Total params: 93,322\n") != std::string::npos);
    CHECK(m->trainable_weights()[0].shape() == Shape{3, 3, 1, 32});
}

TEST_CASE("The convnet learns where a square is, the same bits on 1, 2 and 4 threads, and round-trips") {
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    const auto data = squares(512, 5);
    const Tensor &x = data.first, &y = data.second;
    auto train = [&](int threads) {
        auto m = convnet(3, threads);
        const History h = m->fit(x, y, {.epochs = 2, .batch_size = 64});
        return std::make_pair(std::move(m), h);
    };
    auto [m, h] = train(2);
    MESSAGE(fmt::format("losses {:.4f} -> {:.4f}, accuracy {:.3f}", h.epochs[0].loss, h.epochs[1].loss,
                        *h.epochs[1].accuracy));
    CHECK(h.epochs[1].loss < h.epochs[0].loss);
    CHECK(*h.epochs[1].accuracy > 0.9);
    CHECK(same_weights(weights(*train(1).first), weights(*m)));
    CHECK(same_weights(weights(*train(4).first), weights(*m)));
    // Checkpoints hold the convolutions' kernels too.
    TempDir dir;
    m->save_weights(dir / "convnet.ckpt");
    auto fresh = convnet(9);
    CHECK(!same_weights(weights(*fresh), weights(*m)));
    fresh->load_weights(dir / "convnet.ckpt");
    CHECK(same_weights(weights(*fresh), weights(*m)));
    CHECK(bitwise_equal(fresh->predict(x), m->predict(x)));
}

TEST_CASE("The first Conv2D and its MaxPooling2D are one conv2d_max_pool node, as the two ops within rounding") {
    auto fused = convnet(4), apart = convnet(4, 2, false);
    // One fused node forward, one backward; the second Conv2D (288 taps) stays a GEMM.
    CHECK(nodes_of(*fused, "conv2d_max_pool") == std::vector<std::string>{"conv2d/conv2d_max_pool"});
    CHECK(nodes_of(*fused, "conv2d_max_pool_backprop").size() == 1);
    CHECK(nodes_of(*fused, "max_pool2d") == std::vector<std::string>{"max_pooling2d_1/max_pool2d"});
    CHECK(nodes_of(*apart, "conv2d_max_pool").empty());
    CHECK(nodes_of(*apart, "max_pool2d").size() == 2);
    CHECK(fused->summary() == apart->summary());
    // The same weights and the same predictions, but for rounding; and training alike.
    CHECK(same_weights(weights(*fused), weights(*apart)));
    const auto data = squares(256, 8);
    CHECK(max_rel_diff(fused->predict(data.first), apart->predict(data.first)) < 1e-5);
    const History a = fused->fit(data.first, data.second, {.epochs = 2, .batch_size = 64});
    const History b = apart->fit(data.first, data.second, {.epochs = 2, .batch_size = 64});
    for (std::size_t e = 0; e < 2; ++e) CHECK(std::abs(a.epochs[e].loss - b.epochs[e].loss) < 0.02 * b.epochs[e].loss);
    // A Conv2D whose activation sits between it and the pooling is not fused.
    Sequential sig({.seed = 1});
    sig.add(Conv2D(4, {3, 3}, "sigmoid", Shape{8, 8, 1}));
    sig.add(MaxPooling2D({2, 2}));
    sig.add(Flatten());
    sig.add(Dense(2, "softmax"));
    sig.compile(RMSprop(), "categorical_crossentropy");
    CHECK(nodes_of(sig, "conv2d_max_pool").empty());
    // Nor pools of other strides or padding, pools of over 256 positions, or a Conv2D
    // that is not the first layer: they build as two ops.
    auto first_pooled = [](MaxPooling2D pool, bool reshape_first = false) {
        auto m = std::make_unique<Sequential>(SequentialOptions{.seed = 1});
        if (reshape_first) m->add(Reshape({28, 28, 1}, Shape{784}));
        m->add(reshape_first ? Conv2D(4, {3, 3}, "relu") : Conv2D(4, {3, 3}, "relu", Shape{28, 28, 1}));
        m->add(std::move(pool));
        m->add(Flatten());
        m->add(Dense(2, "softmax"));
        m->compile(RMSprop(), "categorical_crossentropy");
        return m;
    };
    CHECK(nodes_of(*first_pooled(MaxPooling2D({2, 2})), "conv2d_max_pool").size() == 1);
    CHECK(nodes_of(*first_pooled(MaxPooling2D({2, 2}, {.strides = {1, 1}})), "conv2d_max_pool").empty());
    CHECK(nodes_of(*first_pooled(MaxPooling2D({2, 2}, {.padding = ops::Padding::same})), "conv2d_max_pool").empty());
    CHECK(nodes_of(*first_pooled(MaxPooling2D({26, 13})), "conv2d_max_pool").empty());
    CHECK(nodes_of(*first_pooled(MaxPooling2D({2, 2}), true), "conv2d_max_pool").empty());
}

TEST_CASE("Conv2D, pooling layers: options, shapes and errors") {
    CHECK(Conv2D(8, {3, 3}, "linear", std::nullopt, {.padding = ops::Padding::same}).output_shape(Shape{28, 28, 1}) ==
          Shape{28, 28, 8});
    CHECK(Conv2D(8, {3, 3}, "linear", std::nullopt, {.strides = {2, 2}}).output_shape(Shape{28, 28, 1}) ==
          Shape{13, 13, 8});
    CHECK(Conv2D(8, {5, 3}).param_count(Shape{10, 10, 4}) == 5 * 3 * 4 * 8 + 8);
    CHECK(MaxPooling2D({3, 3}, {.strides = {1, 1}}).output_shape(Shape{5, 5, 2}) == Shape{3, 3, 2});
    CHECK(AveragePooling2D({2, 2}, {.padding = ops::Padding::same}).output_shape(Shape{5, 5, 2}) == Shape{3, 3, 2});
    CHECK(GlobalAveragePooling2D().output_shape(Shape{5, 5, 7}) == Shape{7});
    CHECK_ERROR(Conv2D(0, {3, 3}), "Conv2D: filters is 0");
    CHECK_ERROR(Conv2D(8, {0, 3}), "Conv2D: the window's size [0, 3] must be positive");
    CHECK_ERROR(Conv2D(8, {3, 3}).output_shape(Shape{784}), "one sample is (784,); Conv2D takes images");
    CHECK_ERROR(Conv2D(8, {30, 3}).output_shape(Shape{28, 28, 1}),
                "the height window spans 30 rows but the input has 28");
    CHECK_ERROR(MaxPooling2D({2, 2}, {.strides = {-1, 1}}), "MaxPooling2D: strides [-1, 1] must be positive");
    CHECK_ERROR(GlobalAveragePooling2D().output_shape(Shape{10}), "GlobalAveragePooling2D", "takes images");
    // A Dense layer after a convolution needs a Flatten: said so when it is added.
    Sequential m;
    m.add(Conv2D(4, {3, 3}, "relu", Shape{8, 8, 1}));
    CHECK_ERROR(m.add(Dense(10)), "Dense", "(6, 6, 4)", "reshape the inputs first");
    // Average pooling and global pooling train too.
    Sequential avg({.seed = 2, .threads = 2});
    avg.add(Conv2D(8, {3, 3}, "relu", Shape{28, 28, 1}, {.padding = ops::Padding::same}));
    avg.add(AveragePooling2D({2, 2}));
    avg.add(Conv2D(8, {3, 3}, "relu"));
    avg.add(GlobalAveragePooling2D());
    avg.add(Dense(10, "softmax"));
    avg.compile(RMSprop(0.01), "categorical_crossentropy", {"accuracy"});
    const auto images = squares(256, 7);
    const History h = avg.fit(images.first, images.second, {.epochs = 3, .batch_size = 32});
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
}

}  // namespace adjoint::test
