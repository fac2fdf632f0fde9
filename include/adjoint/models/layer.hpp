// Layer: what a Sequential model needs of a layer, as in Keras: its type and name, the
// shape it maps one sample to, its parameter count, and how it builds its nodes and
// weights into a graph. Dense is the first; a new layer is a class of its own file pair
// that implements these five functions (and, if it has state that training changes
// without gradients, the ones below them).
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

    // Layers that act differently while training (Dropout, BatchNormalization) say so
    // here and build through the four-argument build(), which gets the model's training
    // flag: a u8 scalar variable, 1 during fit's steps and 0 otherwise. The default
    // ignores it.
    virtual bool uses_training_flag() const { return false; }
    virtual Expr build(Graph& g, const Expr& input, std::uint64_t seed, const Expr& /*training*/) {
        return build(g, input, seed);
    }
    // Weights that training changes without gradients (BatchNormalization's moving
    // statistics, Dropout's step counter): checkpoints store them with the trainable ones.
    virtual std::vector<Expr> non_trainable_weights() const { return {}; }
    // How many of param_count() are not trained (the summary's "Non-trainable params").
    virtual std::int64_t non_trainable_param_count(const Shape& /*input*/) const { return 0; }
    // The assigns that update them, run by every training step after the gradients.
    virtual std::vector<Expr> state_updates() const { return {}; }

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
