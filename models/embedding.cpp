// B = batch, L = ids per sample, V = input_dim, D = output_dim.
// y[b, l] = embeddings[id[b, l]]: (B, L) ids -> (B, L, D), the table (V, D).
#include <adjoint/models/embedding.hpp>

#include <adjoint/core/error.hpp>
#include <adjoint/core/init.hpp>
#include <adjoint/ops/movement.hpp>

namespace adjoint {

Embedding::Embedding(std::int64_t input_dim_, std::int64_t output_dim_, std::int64_t input_length)
    : input_dim(input_dim_), output_dim(output_dim_) {
    if (input_dim <= 0 || input_dim > INT32_MAX)
        throw Error(fmt::format("Embedding: input_dim is {}; it must be from 1 to 2^31 - 1 (ids are i32)", input_dim));
    if (output_dim <= 0) throw Error(fmt::format("Embedding: output_dim is {}; it must be positive", output_dim));
    std::int64_t params = 0;
    if (__builtin_mul_overflow(input_dim, output_dim, &params) || params > (std::int64_t{1} << 40))
        throw Error(fmt::format("Embedding: a {} x {} table is more than 2^40 parameters", input_dim, output_dim));
    if (input_length < 0) throw Error(fmt::format("Embedding: input_length is {}; it must be positive", input_length));
    if (input_length > 0) input_shape = Shape{input_length};
}

Shape Embedding::output_shape(const Shape& input) const {
    if (input.has_batch() || input.rank() + 1 >= Shape::max_rank)
        throw Error(
            fmt::format("Embedding \"{}\": one sample is {}; it takes ids of shape (length, ...)", name, input));
    Shape out = input;
    out.push_back(output_dim);
    return out;
}

std::int64_t Embedding::param_count(const Shape& input) const {
    (void)output_shape(input);
    return input_dim * output_dim;
}

Expr Embedding::build(Graph& g, const Expr& input, std::uint64_t model_seed) {
    const Shape in = input.shape();
    (void)output_shape(Shape(std::span<const std::int64_t>(in.begin() + 1, in.end())));
    embeddings =
        g.variable("embeddings", {input_dim, output_dim}, init::uniform(-0.05, 0.05, seed.value_or(model_seed)));
    return gather(embeddings, input);
}

std::vector<Expr> Embedding::trainable_weights() const {
    if (!embeddings.valid()) return {};
    return {embeddings};
}

}  // namespace adjoint
