// y = activation(x), one node (none for "linear").
#include <adjoint/models/activation_layer.hpp>

namespace adjoint {

ActivationLayer::ActivationLayer(Activation activation_, std::optional<Shape> input_shape_) : activation(activation_) {
    input_shape = input_shape_;
}

Expr ActivationLayer::build(Graph&, const Expr& input, std::uint64_t) { return activation(input); }

}  // namespace adjoint
