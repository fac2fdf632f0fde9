// Binary classification: is a point of the square [-1, 1)^2 inside the circle of radius
// 0.6? The labels are computed by the library's own comparison ops (less, then a where
// into 1 or 0: no cast tricks); the model is 2 -> Dense(16, relu) -> Dropout(0.1) ->
// Dense(1, sigmoid) with binary cross-entropy and binary accuracy. Prints the accuracy on
// points it never saw.
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>

namespace ad = adjoint;

namespace {

// n points of [-1, 1)^2 and their labels, 1 inside the circle.
std::pair<ad::Tensor, ad::Tensor> circle(std::int64_t n, std::uint64_t seed) {
    const ad::Tensor points = ad::init::uniform(-1, 1, seed).make({n, 2}, ad::DType::f32);
    ad::Graph g;
    const ad::Expr p = g.constant(points);
    const ad::Expr r2 = ad::sum(ad::square(p), {-1}, true);                        // (n, 1): x^2 + y^2
    const ad::Expr inside = ad::less(r2, g.constant(ad::Tensor::full({}, 0.36)));  // u8
    const ad::Expr label = ad::where(inside, 1.0, r2 * 0.f);                       // 1 or 0, f32
    ad::Session s(g, {.threads = 1});
    return {points, s.run({label})[0]};
}

}  // namespace

int main() try {
    const auto [x, y] = circle(2000, 1);
    const auto [test_x, test_y] = circle(1000, 2);
    ad::Sequential model({.seed = 3, .threads = 1});
    model.add(ad::Dense(16, "relu", 2));
    model.add(ad::Dropout(0.1));
    model.add(ad::Dense(1, "sigmoid"));
    model.compile(ad::Adam(0.01), "binary_crossentropy", {"binary_accuracy"});
    model.fit(x, y, {.epochs = 60, .batch_size = 32});
    fmt::print("test accuracy: {:.2f}\n", model.evaluate(test_x, test_y).accuracy);
} catch (const std::exception& e) {
    fmt::print(stderr, "circles: {}\n", e.what());
    return 1;
}
