// XOR, the classic problem no linear model solves: 2 -> Dense(8, tanh) -> Dense(1, sigmoid),
// binary cross-entropy (computed from the sigmoid's logits, so it stays finite) and
// binary accuracy (y > 0.5 against the 0 or 1 target). Prints the accuracy, and each
// input with its predicted probability, as the README shows.
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>

namespace ad = adjoint;

int main() try {
    const ad::Tensor x = ad::Tensor::from({{0.f, 0.f}, {0.f, 1.f}, {1.f, 0.f}, {1.f, 1.f}});
    const ad::Tensor y = ad::Tensor::from({{0.f}, {1.f}, {1.f}, {0.f}});
    ad::Sequential model({.seed = 1, .threads = 1});
    model.add(ad::Dense(8, "tanh", 2));
    model.add(ad::Dense(1, "sigmoid"));
    model.compile(ad::Adam(0.05), "binary_crossentropy", {"accuracy"});
    model.fit(x, y, {.epochs = 300, .batch_size = 4});
    const ad::Evaluation e = model.evaluate(x, y);
    fmt::print("accuracy: {:.2f}\n", e.accuracy);
    const ad::Tensor p = model.predict(x);
    for (std::size_t i = 0; i < 4; ++i)
        fmt::print("{} xor {} -> {:.2f}\n", x.data<float>()[2 * i], x.data<float>()[2 * i + 1], p.data<float>()[i]);
} catch (const std::exception& e) {
    fmt::print(stderr, "xor: {}\n", e.what());
    return 1;
}
