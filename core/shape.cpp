#include <adjoint/core/shape.hpp>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include <adjoint/core/error.hpp>

namespace adjoint {

static void check_dim(std::int64_t d, std::size_t i) {
    if (d < 0 && d != batch) throw Error(fmt::format("Shape: dim {} is {}; dims are >= 0 (or adjoint::batch)", i, d));
}

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
    for (std::int64_t d : dims) push_back(d);
}

void Shape::push_back(std::int64_t d) {
    if (rank_ == max_rank) throw Error(fmt::format("Shape: rank above {} is not supported", max_rank));
    check_dim(d, rank_);
    dims_[rank_++] = d;
}

std::int64_t Shape::numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : *this) {
        if (d < 0) throw Error(fmt::format("Shape {}: element count needs a known batch size", *this));
        if (__builtin_mul_overflow(n, d, &n))
            throw Error(fmt::format("Shape {}: its element count overflows a 64-bit integer", *this));
    }
    return n;
}

bool Shape::has_batch() const {
    return std::any_of(begin(), end(), [](std::int64_t d) { return d == batch; });
}

Shape Shape::resolve(std::int64_t value) const {
    Shape s = *this;
    if (value >= 0)
        for (std::size_t i = 0; i < rank_; ++i)
            if (s.dims_[i] == batch) s.dims_[i] = value;
    return s;
}

bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (std::size_t i = 0; i < a.rank_; ++i)
        if (a.dims_[i] != b.dims_[i]) return false;
    return true;
}

std::string to_string(const Shape& s) {
    std::string out = "(";
    for (std::size_t i = 0; i < s.rank(); ++i) {
        if (i) out += ", ";
        out += s[i] == batch ? std::string("batch") : std::to_string(s[i]);
    }
    if (s.rank() == 1) out += ",";
    return out + ")";
}

Shape parse_shape(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return Error(fmt::format("\"{}\" is not a shape: {}", text.substr(0, 200), why));
    };
    if (text.size() < 2 || text.front() != '(' || text.back() != ')') throw bad("it is not in parentheses");
    std::string_view rest = text.substr(1, text.size() - 2);
    Shape s;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        std::string_view dim = rest.substr(0, comma);
        while (!dim.empty() && dim.front() == ' ') dim.remove_prefix(1);
        if (s.rank() == Shape::max_rank) throw bad(fmt::format("more than {} dims", Shape::max_rank));
        if (dim == "batch") {
            s.push_back(batch);
        } else {
            std::int64_t d = -1;
            const auto [end, ec] = std::from_chars(dim.data(), dim.data() + dim.size(), d);
            if (ec != std::errc() || end != dim.data() + dim.size() || d < 0 || dim.empty())
                throw bad(fmt::format("\"{}\" is not a dim (a whole number from 0, or batch)", dim.substr(0, 40)));
            s.push_back(d);
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
        if (rest.empty() && s.rank() != 1) throw bad("a trailing comma");
    }
    if (s.rank() == 1 && text.find(',') == std::string_view::npos) throw bad("a 1-D shape is written (n,)");
    return s;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
    const std::size_t rank = std::max(a.rank(), b.rank());
    std::array<std::int64_t, Shape::max_rank> out{};
    for (std::size_t i = 0; i < rank; ++i) {
        // Align from the right, as numpy does; missing dims act as 1.
        const std::int64_t da = i < rank - a.rank() ? 1 : a[i - (rank - a.rank())];
        const std::int64_t db = i < rank - b.rank() ? 1 : b[i - (rank - b.rank())];
        if (da == db || db == 1) out[i] = da;
        else if (da == 1) out[i] = db;
        else
            throw std::invalid_argument(fmt::format("shapes {} and {} do not broadcast: dim {} is {} vs {}", a, b, i,
                                                    da == batch ? "batch" : std::to_string(da),
                                                    db == batch ? "batch" : std::to_string(db)));
    }
    return Shape(std::span<const std::int64_t>(out.data(), rank));
}

std::array<bool, Shape::max_rank> axis_mask(std::span<const int> axes, std::size_t rank) {
    std::array<bool, Shape::max_rank> mask{};
    for (int a : axes) {
        const int r = static_cast<int>(rank);
        if (a < -r || a >= r) throw std::invalid_argument(fmt::format("axis {} is out of range for rank {}", a, rank));
        const std::size_t k = static_cast<std::size_t>(a < 0 ? a + r : a);
        if (mask[k]) throw std::invalid_argument(fmt::format("axis {} is repeated", a));
        mask[k] = true;
    }
    return mask;
}

}  // namespace adjoint
