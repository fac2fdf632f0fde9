// Flatten and Reshape: one reshape node each, of (batch, sample...) to (batch, target...).
#include <adjoint/models/reshaping.hpp>

#include <adjoint/core/error.hpp>
#include <adjoint/ops/shape_ops.hpp>

namespace adjoint {

namespace {

// One sample of a (batch, ...) input.
Shape sample_of(const Expr& input) {
    const Shape in = input.shape();
    return Shape(std::span<const std::int64_t>(in.begin() + 1, in.end()));
}

Expr reshaped(const Expr& input, const Shape& sample) {
    Shape to{batch};
    for (std::int64_t d : sample) to.push_back(d);
    return reshape(input, to);
}

}  // namespace

Flatten::Flatten(std::optional<Shape> input_shape_) { input_shape = input_shape_; }

Shape Flatten::output_shape(const Shape& input) const {
    if (input.has_batch()) throw Error(fmt::format("Flatten \"{}\": one sample is {}, with a batch dim", name, input));
    return Shape{input.numel()};
}

std::int64_t Flatten::param_count(const Shape& input) const {
    (void)output_shape(input);
    return 0;
}

Expr Flatten::build(Graph&, const Expr& input, std::uint64_t) {
    return reshaped(input, output_shape(sample_of(input)));
}

Reshape::Reshape(std::vector<std::int64_t> target_shape, std::optional<Shape> input_shape_)
    : target(std::move(target_shape)) {
    input_shape = input_shape_;
    if (std::count(target.begin(), target.end(), -1) > 1)
        throw Error(fmt::format("Reshape: the target shape has more than one -1 (at most one dim is inferred)"));
    for (std::int64_t d : target)
        if (d < -1 || d == 0)
            throw Error(fmt::format("Reshape: the target shape holds {}; dims are positive, or -1 to infer one", d));
    if (target.size() > Shape::max_rank - 1)
        throw Error(fmt::format("Reshape: the target shape has {} dims; at most {} with the batch dim", target.size(),
                                Shape::max_rank - 1));
}

Shape Reshape::output_shape(const Shape& input) const {
    if (input.has_batch()) throw Error(fmt::format("Reshape \"{}\": one sample is {}, with a batch dim", name, input));
    const std::int64_t n = input.numel();
    std::int64_t known = 1;
    for (std::int64_t d : target)
        if (d != -1) {
            if (__builtin_mul_overflow(known, d, &known))
                throw Error(fmt::format("Reshape \"{}\": the target shape's element count overflows", name));
        }
    Shape out;
    for (std::int64_t d : target) {
        if (d == -1 && (known == 0 || n % known != 0))
            throw Error(fmt::format("Reshape \"{}\": {} elements of a sample {} do not divide into the target shape",
                                    name, n, input));
        out.push_back(d == -1 ? n / known : d);
    }
    if (out.numel() != n)
        throw Error(fmt::format("Reshape \"{}\": one sample {} has {} elements, the target shape {} has {}", name,
                                input, n, out, out.numel()));
    return out;
}

std::int64_t Reshape::param_count(const Shape& input) const {
    (void)output_shape(input);
    return 0;
}

Expr Reshape::build(Graph&, const Expr& input, std::uint64_t) {
    return reshaped(input, output_shape(sample_of(input)));
}

}  // namespace adjoint
