// MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D: one op node each on
// (batch, H, W, C).
#include <adjoint/models/pooling.hpp>

#include <adjoint/core/error.hpp>

namespace adjoint {

namespace {

void check_pool(std::string_view type, std::array<std::int64_t, 2> size, const PoolOptions& o) {
    if (o.strides[0] < 0 || o.strides[1] < 0)
        throw Error(
            fmt::format("{}: strides [{}, {}] must be positive (0: the pool size)", type, o.strides[0], o.strides[1]));
    try {
        pool_window(size, o).check();
    } catch (const std::invalid_argument& e) {
        throw Error(fmt::format("{}: {}", type, e.what()));
    }
}

void expect_image_sample(const Layer& l, const Shape& input) {
    if (input.rank() != 3 || input.has_batch())
        throw Error(fmt::format("{} \"{}\": one sample is {}; it takes images (height, width, channels)", l.type(),
                                l.name, input));
}

Shape pooled(const Layer& l, std::array<std::int64_t, 2> size, const PoolOptions& o, const Shape& input) {
    expect_image_sample(l, input);
    const ops::Window2D w = pool_window(size, o);
    try {
        return Shape{w.out(0, input[0]), w.out(1, input[1]), input[2]};
    } catch (const std::invalid_argument& e) {
        throw Error(fmt::format("{} \"{}\" on images {}: {}", l.type(), l.name, input, e.what()));
    }
}

Shape sample_of(const Expr& input) {
    const Shape in = input.shape();
    return Shape(std::span<const std::int64_t>(in.begin() + 1, in.end()));
}

}  // namespace

Pooling2D::Pooling2D(std::string_view type, std::array<std::int64_t, 2> pool_size_, PoolOptions options_,
                     std::optional<Shape> input_shape_)
    : pool_size(pool_size_), options(options_) {
    input_shape = input_shape_;
    check_pool(type, pool_size, options);
}

Shape Pooling2D::output_shape(const Shape& input) const { return pooled(*this, pool_size, options, input); }

std::int64_t Pooling2D::param_count(const Shape& input) const {
    (void)output_shape(input);
    return 0;
}

Expr MaxPooling2D::build(Graph&, const Expr& input, std::uint64_t) {
    (void)output_shape(sample_of(input));
    return max_pool2d(input, pool_size, options);
}

Expr AveragePooling2D::build(Graph&, const Expr& input, std::uint64_t) {
    (void)output_shape(sample_of(input));
    return avg_pool2d(input, pool_size, options);
}

GlobalAveragePooling2D::GlobalAveragePooling2D(std::optional<Shape> input_shape_) { input_shape = input_shape_; }

Shape GlobalAveragePooling2D::output_shape(const Shape& input) const {
    expect_image_sample(*this, input);
    return Shape{input[2]};
}

std::int64_t GlobalAveragePooling2D::param_count(const Shape& input) const {
    (void)output_shape(input);
    return 0;
}

Expr GlobalAveragePooling2D::build(Graph&, const Expr& input, std::uint64_t) {
    (void)output_shape(sample_of(input));
    return global_avg_pool2d(input);
}

}  // namespace adjoint
