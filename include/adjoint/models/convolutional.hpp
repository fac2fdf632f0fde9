// Keras' Conv2D: activation(conv2d(x, kernel) + bias) on (batch, height, width, channels)
// images, the kernel (KH, KW, C, filters) Glorot-uniform and the bias zeros by default.
#pragma once

#include <adjoint/models/activations.hpp>
#include <adjoint/models/layer.hpp>
#include <adjoint/ops/conv.hpp>

namespace adjoint {

class Conv2D : public Layer {
public:
    // Conv2D(32, {3, 3}, "relu", Shape{28, 28, 1}): input_shape is one sample, needed on a
    // model's first layer only; options hold strides, dilation and padding (valid).
    Conv2D(std::int64_t filters, std::array<std::int64_t, 2> kernel_size, Activation activation = "linear",
           std::optional<Shape> input_shape = std::nullopt, Conv2DOptions options = {});

    std::string_view type() const override { return "Conv2D"; }
    // (H, W, C) -> (OH, OW, filters)
    Shape output_shape(const Shape& input) const override;
    // kernel (KH KW C filters) plus bias (filters)
    std::int64_t param_count(const Shape& input) const override;
    // One conv2d node (bias and relu in its epilogue); other activations follow it.
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    // The layer followed by max pooling as one conv2d_max_pool node (Sequential's
    // fuse_conv_pool): pool windows of pool_size, strides the same, valid padding.
    // Requires a relu or linear activation (fuses_with_pool()).
    Expr build_max_pooled(Graph& g, const Expr& input, std::uint64_t seed, std::array<std::int64_t, 2> pool_size);
    // Whether build_max_pooled applies: relu or linear, and at most 32 taps per output for
    // `input` (one sample, (H, W, C)): past that the GEMM's products are the faster path.
    bool fuses_with_pool(const Shape& input) const;
    // {kernel, bias}
    std::vector<Expr> trainable_weights() const override;

    std::int64_t filters;
    std::array<std::int64_t, 2> kernel_size;
    Activation activation;
    Conv2DOptions options;
    std::optional<std::uint64_t> seed;  // the kernel initializer's seed; default: the model's

    // Made by build().
    Expr kernel, bias;

private:
    void make_weights(Graph& g, const Shape& sample, std::uint64_t model_seed);
};

}  // namespace adjoint
