#include <adjoint/core/tensor.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

namespace adjoint {

std::size_t byte_size(const Shape& shape, DType dtype) {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<std::size_t>(shape.numel()), dtype_size(dtype), &bytes))
        throw Error(fmt::format("{} {}: its byte count overflows a 64-bit integer", dtype_name(dtype), shape));
    return bytes;
}

std::size_t Tensor::nbytes() const { return byte_size(shape_, dtype_); }

static std::shared_ptr<std::byte> allocate(std::size_t bytes, std::size_t& capacity, const Shape& shape, DType dtype) {
    // Round up so that vector loops may read a whole last cache line.
    void* p = nullptr;
    if (bytes <= SIZE_MAX - Tensor::alignment) {
        capacity = (std::max<std::size_t>(bytes, 1) + Tensor::alignment - 1) / Tensor::alignment * Tensor::alignment;
        p = std::aligned_alloc(Tensor::alignment, capacity);
    }
    if (!p)
        throw Error(fmt::format("Tensor: out of memory allocating {:.1f} MB for {} {}",
                                static_cast<double>(bytes) / 1e6, dtype_name(dtype), shape));
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
}

Tensor::Tensor(Shape shape, DType dtype) : shape_(shape), dtype_(dtype) {
    storage_ = allocate(nbytes(), capacity_, shape_, dtype_);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
    Tensor t(shape, dtype);
    std::memset(t.raw(), 0, t.nbytes());
    return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
    Tensor t(shape, dtype);
    visit_dtype(dtype, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_integral_v<T>) {
            // Converting a double outside [lowest, max + 1) (or NaN) to an integer is
            // undefined; a fraction inside it is truncated toward zero.
            constexpr double lowest = static_cast<double>(std::numeric_limits<T>::lowest());  // exact
            constexpr double beyond = static_cast<double>(std::numeric_limits<T>::max()) + 1;
            if (!(value >= lowest && value < beyond))
                throw Error(fmt::format("Tensor::full: {} is not a value of dtype {} (from {} to {})", value,
                                        dtype_name(dtype), +std::numeric_limits<T>::lowest(),
                                        +std::numeric_limits<T>::max()));
        }
        auto d = t.data<T>();
        std::fill(d.begin(), d.end(), static_cast<T>(value));
    });
    return t;
}

double Tensor::as_double(std::int64_t i) const {
    if (empty()) throw Error("Tensor::as_double: the tensor is empty (it holds no storage)");
    if (i < 0 || i >= numel())
        throw Error(fmt::format("Tensor::as_double: index {} out of range for shape {}", i, shape_));
    return visit_dtype(dtype_, [&](auto tag) {
        using T = decltype(tag);
        return static_cast<double>(data<T>()[static_cast<std::size_t>(i)]);
    });
}

Tensor Tensor::clone() const {
    if (empty()) return {};
    Tensor t(shape_, dtype_);
    std::memcpy(t.raw(), raw(), nbytes());
    return t;
}

Tensor Tensor::view(const Shape& shape, DType dtype) const {
    Tensor t;
    t.storage_ = storage_;
    t.capacity_ = capacity_;
    t.shape_ = shape;
    t.dtype_ = dtype;
    if (t.nbytes() > capacity_)
        throw Error(fmt::format("Tensor::view: {} {} needs {} bytes, the storage holds {}", dtype_name(dtype), shape,
                                t.nbytes(), capacity_));
    return t;
}

void Tensor::assign_copy(const Tensor& src) {
    if (src.empty() || storage_ == nullptr || storage_.use_count() != 1 || capacity_ < src.nbytes() ||
        storage_ == src.storage_) {
        *this = src.clone();
        return;
    }
    shape_ = src.shape_;
    dtype_ = src.dtype_;
    std::memcpy(raw(), src.raw(), nbytes());
}

void Tensor::copy_from(const Tensor& src) {
    if (src.shape_ != shape_ || src.dtype_ != dtype_)
        throw Error(fmt::format("Tensor::copy_from: {} {} into {} {}", dtype_name(src.dtype_), src.shape_,
                                dtype_name(dtype_), shape_));
    if (src.raw() != raw()) std::memcpy(raw(), src.raw(), nbytes());
}

namespace {

// Tensors of more elements than this are summarised (numpy's default).
constexpr std::int64_t threshold = 1000;

// Writes the elements of dims [axis..) starting at `offset`, numpy style: at most
// `edge` items at each end of an axis once the tensor has more than `threshold` elements.
struct Printer {
    const Tensor& t;
    bool summarise;
    static constexpr std::int64_t edge = 3;
    std::string out;

    void element(std::int64_t i) {
        visit_dtype(t.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T v = t.data<T>()[static_cast<std::size_t>(i)];
            if constexpr (std::is_same_v<T, std::uint8_t>) out += fmt::format("{}", unsigned{v});
            else out += fmt::format("{}", v);
        });
    }

    void axis(std::size_t a, std::int64_t offset, std::int64_t stride) {
        const std::int64_t n = t.shape()[a];
        const std::int64_t inner = stride / std::max<std::int64_t>(n, 1);
        out += '[';
        for (std::int64_t i = 0; i < n; ++i) {
            if (summarise && n > 2 * edge && i == edge) {
                out += "..., ";
                i = n - edge;
            }
            if (a + 1 == t.shape().rank()) element(offset + i);
            else axis(a + 1, offset + i * inner, inner);
            if (i + 1 < n) out += ", ";
        }
        out += ']';
    }
};

}  // namespace

std::string to_string(const Tensor& t) {
    if (t.empty()) return "<empty>";
    Printer p{t, t.numel() > threshold, {}};
    if (t.shape().rank() == 0) p.element(0);
    else p.axis(0, 0, t.numel());
    return p.out;
}

}  // namespace adjoint
