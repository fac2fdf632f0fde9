// Keras' Embedding: each id of a sample (token ids as f32 whole numbers, as Keras feeds
// them) replaced by its row of a trainable (input_dim, output_dim) table, uniform in
// [-0.05, 0.05] by default. (L,) -> (L, output_dim).
#pragma once

#include <adjoint/models/layer.hpp>

namespace adjoint {

class Embedding : public Layer {
public:
    // input_length: the ids per sample, needed on a model's first layer only (0 = not given).
    Embedding(std::int64_t input_dim, std::int64_t output_dim, std::int64_t input_length = 0);
    std::string_view type() const override { return "Embedding"; }
    Shape output_shape(const Shape& input) const override;
    std::int64_t param_count(const Shape& input) const override;
    // One gather node on the ids; an id that is not a whole number in [0, input_dim) is
    // an error of the run that feeds it, naming the id. (u8 inputs are scaled by 1/255 on
    // their way in: feed ids as f32.)
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override;

    std::int64_t input_dim, output_dim;
    std::optional<std::uint64_t> seed;  // the table initializer's seed; default: the model's

    Expr embeddings;  // made by build()
};

}  // namespace adjoint
