// Shape: the dims of a tensor, row-major. A dim may be `batch`, a symbol for the batch
// size, which is only known when a run is fed; a plan substitutes the real value.
// Placeholders have it as their leading dim; transposes (in gradients) move it.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include <fmt/format.h>

namespace adjoint {

// The dynamic leading dim: Shape{batch, 784}.
inline constexpr std::int64_t batch = -1;

class Shape {
public:
    static constexpr std::size_t max_rank = 8;

    Shape() = default;
    Shape(std::initializer_list<std::int64_t> dims);
    explicit Shape(std::span<const std::int64_t> dims);

    std::size_t rank() const { return rank_; }
    std::int64_t operator[](std::size_t i) const { return dims_[i]; }
    std::int64_t& operator[](std::size_t i) { return dims_[i]; }
    const std::int64_t* begin() const { return dims_.data(); }
    const std::int64_t* end() const { return dims_.data() + rank_; }
    std::int64_t back() const { return dims_[rank_ - 1]; }
    void push_back(std::int64_t d);

    // Number of elements; requires every dim to be known. An adjoint::Error if it
    // overflows 64 bits.
    std::int64_t numel() const;
    // Whether any dim is `batch`.
    bool has_batch() const;
    // The same shape with every `batch` replaced by `value` (a plan's batch size).
    Shape resolve(std::int64_t value) const;

    friend bool operator==(const Shape& a, const Shape& b);

private:
    std::array<std::int64_t, max_rank> dims_{};
    std::size_t rank_ = 0;
};

// "(batch, 784)", "(5,)", "()".
std::string to_string(const Shape& s);
// The shape to_string wrote: "(batch, 784)", "(3,)", "()". Throws an Error quoting the
// text when it is not one (a negative or too large dim, more than max_rank dims).
Shape parse_shape(std::string_view text);

// numpy broadcasting of two shapes. Throws std::invalid_argument naming the dims that
// clash. `batch` broadcasts against `batch` and against 1 only.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Normalises possibly negative axes against `rank`, sorted and unique; throws
// std::invalid_argument for an axis out of range or repeated.
std::array<bool, Shape::max_rank> axis_mask(std::span<const int> axes, std::size_t rank);

}  // namespace adjoint

template <> struct fmt::formatter<adjoint::Shape> : fmt::formatter<std::string_view> {
    auto format(const adjoint::Shape& s, format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(adjoint::to_string(s), ctx);
    }
};
