// B = batch, (H, W, C) one image in, (OH, OW, F) one image out, F = filters.
// y = activation(conv2d(x, kernel) + bias): (B, H, W, C) * (KH, KW, C, F) + (F,)
#include <adjoint/models/convolutional.hpp>

#include <adjoint/core/error.hpp>

namespace adjoint {

Conv2D::Conv2D(std::int64_t filters_, std::array<std::int64_t, 2> kernel_size_, Activation activation_,
               std::optional<Shape> input_shape_, Conv2DOptions options_)
    : filters(filters_), kernel_size(kernel_size_), activation(activation_), options(options_) {
    input_shape = input_shape_;
    if (filters <= 0) throw Error(fmt::format("Conv2D: filters is {}; it must be positive", filters));
    try {
        ops::Window2D{kernel_size, options.strides, options.dilation, options.padding}.check();
    } catch (const std::invalid_argument& e) {
        throw Error(fmt::format("Conv2D: {}", e.what()));
    }
}

Shape Conv2D::output_shape(const Shape& input) const {
    if (input.rank() != 3 || input.has_batch())
        throw Error(
            fmt::format("Conv2D \"{}\": one sample is {}; Conv2D takes images (height, width, channels)", name, input));
    const ops::Window2D w{kernel_size, options.strides, options.dilation, options.padding};
    try {
        return Shape{w.out(0, input[0]), w.out(1, input[1]), filters};
    } catch (const std::invalid_argument& e) {
        throw Error(fmt::format("Conv2D \"{}\" on images {}: {}", name, input, e.what()));
    }
}

std::int64_t Conv2D::param_count(const Shape& input) const {
    (void)output_shape(input);  // checks the input
    return kernel_size[0] * kernel_size[1] * input[2] * filters + filters;
}

namespace {
Shape sample_of(const Expr& input) {
    const Shape in = input.shape();
    return Shape(std::span<const std::int64_t>(in.begin() + 1, in.end()));
}
}  // namespace

void Conv2D::make_weights(Graph& g, const Shape& sample, std::uint64_t model_seed) {
    (void)output_shape(sample);
    kernel = g.variable("kernel", {kernel_size[0], kernel_size[1], sample[2], filters},
                        init::glorot_uniform(seed.value_or(model_seed)));
    bias = g.variable("bias", {filters}, init::zeros());
}

Expr Conv2D::build(Graph& g, const Expr& input, std::uint64_t model_seed) {
    make_weights(g, sample_of(input), model_seed);
    if (activation.name() == "relu") return conv2d_bias(input, kernel, bias, true, options);
    return activation(conv2d_bias(input, kernel, bias, false, options));
}

bool Conv2D::fuses_with_pool(const Shape& input) const {
    const bool simple = activation.name() == "relu" || activation.name() == "linear";
    return simple && input.rank() == 3 && kernel_size[0] * kernel_size[1] * input[2] <= 32;
}

Expr Conv2D::build_max_pooled(Graph& g, const Expr& input, std::uint64_t model_seed,
                              std::array<std::int64_t, 2> pool_size) {
    const Shape sample = sample_of(input);
    if (!fuses_with_pool(sample))
        throw Error(fmt::format("Conv2D \"{}\": a {} activation over {} does not fuse with pooling", name,
                                activation.name(), sample));
    make_weights(g, sample, model_seed);
    return conv2d_max_pool(input, kernel, bias, activation.name() == "relu", pool_size, options);
}

std::vector<Expr> Conv2D::trainable_weights() const {
    if (!kernel.valid()) return {};
    return {kernel, bias};
}

}  // namespace adjoint
