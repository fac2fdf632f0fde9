// Keras' losses and the accuracy metric as graph nodes, one value per sample (B,).
#pragma once

#include <adjoint/models/layers.hpp>

namespace adjoint {

// -sum(onehot * log(p)). When the last layer is a softmax, computed from its logits with
// the fused, stable softmax_cross_entropy (as TensorFlow's Keras does); otherwise from
// the probabilities clipped to [1e-7, 1 - 1e-7], as Keras does.
Expr categorical_crossentropy(const Dense& last, const Expr& onehot);
// The same with integer class labels (B,).
Expr sparse_categorical_crossentropy(const Dense& last, const Expr& labels);
// mean((y - t)^2) over each sample's values.
Expr mean_squared_error(const Expr& y, const Expr& t);
// 1 where argmax(y) is the target class (one-hot or integer targets), else 0, as f32.
Expr correct_predictions(const Expr& y, const Expr& targets);

}  // namespace adjoint
