// B = batch, C = classes.
#include <adjoint/models/losses.hpp>

#include <adjoint/ops/all.hpp>

namespace adjoint {

namespace {
constexpr double epsilon = 1e-7;  // Keras' backend epsilon
}

Expr categorical_crossentropy(const Dense& last, const Expr& onehot) {
    if (last.activation == Activation::softmax) return softmax_cross_entropy(last.pre_activation, onehot);
    const Expr p = minimum(maximum(last.output, scalar_like(last.output, epsilon, std::source_location::current())),
                           scalar_like(last.output, 1 - epsilon, std::source_location::current()));
    return -sum(onehot * log(p), {-1});
}

Expr sparse_categorical_crossentropy(const Dense& last, const Expr& labels) {
    if (last.activation == Activation::softmax) return sparse_softmax_cross_entropy(last.pre_activation, labels);
    const Expr onehot = one_hot(labels, last.units, last.output.dtype());
    return categorical_crossentropy(last, onehot);
}

Expr mean_squared_error(const Expr& y, const Expr& t) { return mean(square(y - t), {-1}); }

Expr correct_predictions(const Expr& y, const Expr& targets) {
    const Expr predicted = argmax(y, -1);
    const Expr truth = targets.shape().rank() == y.shape().rank() ? argmax(targets, -1) : cast(targets, DType::i32);
    return cast(equal(predicted, truth), y.dtype());
}

}  // namespace adjoint
