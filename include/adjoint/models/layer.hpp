// Layer: what a Sequential model needs of a layer, as in Keras: its type and name, the
// shape it maps one sample to, its parameter count, and how it builds its nodes and
// weights into a graph. Dense is the first; a new layer is a class of its own file pair
// that implements these five functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint {

class Layer {
public:
    virtual ~Layer() = default;

    // Keras' class name, as summaries show it: "Dense".
    virtual std::string_view type() const = 0;
    // The shape of one sample out of the layer, given one sample in (no batch dim).
    // Throws an adjoint::Error naming the layer when it cannot take that input.
    virtual Shape output_shape(const Shape& input) const = 0;
    // Its trainable parameters for that input (the summary's "Param #").
    virtual std::int64_t param_count(const Shape& input) const = 0;
    // Creates the layer's weights and nodes on `input` (batch, ...) in g's current scope
    // and returns its output. `seed` seeds its initializers unless the layer was given one.
    virtual Expr build(Graph& g, const Expr& input, std::uint64_t seed) = 0;
    // The weights build() made that training updates, in a fixed order (empty before).
    virtual std::vector<Expr> trainable_weights() const = 0;

    // The layer's name and graph scope: given, or set when it is added to a model
    // ("dense", "dense_1", ... as Keras names them).
    std::string name;
    // The shape of one sample; the first layer of a Sequential needs it (Keras' input_shape).
    std::optional<Shape> input_shape;
};

// Keras' default name stem of a layer type: "Dense" -> "dense", "MaxPooling2D" ->
// "max_pooling2d".
std::string snake_case(std::string_view type);

}  // namespace adjoint
