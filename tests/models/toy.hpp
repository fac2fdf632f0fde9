// Small synthetic data and models for the models/ suites. Internal to the tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../helpers.hpp"

namespace adjoint::test {

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

inline std::unique_ptr<Sequential> model(std::uint64_t seed = 7, const std::string& opt = "rmsprop", double lr = 0.01) {
    auto m = std::make_unique<Sequential>(SequentialOptions{.seed = seed, .threads = 2});
    m->add(Dense(16, "relu", 20));
    m->add(Dense(3, "softmax"));
    m->compile(*make_optimizer(opt, lr), "categorical_crossentropy", {"accuracy"});
    return m;
}

inline std::vector<Tensor> weights(Sequential& m) {
    std::vector<Tensor> w;
    for (const Expr& e : m.trainable_weights()) w.push_back(m.session().value(e));
    return w;
}

inline bool same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!bitwise_equal(a[i], b[i])) return false;
    return true;
}

}  // namespace adjoint::test
