// Tensor: a row-major block of elements of one dtype, 64-byte aligned. Copies share
// storage (a Tensor is a handle); clone() makes a deep copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include <fmt/format.h>

#include <adjoint/core/dtype.hpp>
#include <adjoint/core/shape.hpp>

namespace adjoint {

class Tensor {
public:
    static constexpr std::size_t alignment = 64;

    Tensor() = default;                // empty: no storage, shape (), f32
    Tensor(Shape shape, DType dtype);  // uninitialised storage

    static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
    static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
    template <class T> static Tensor scalar(T value);
    template <class T> static Tensor from(std::span<const T> values, const Shape& shape);
    // Nested initialiser lists: the element type gives the dtype, the nesting the shape.
    template <class T> static Tensor from(std::initializer_list<T> v);
    template <class T> static Tensor from(std::initializer_list<std::initializer_list<T>> v);
    template <class T> static Tensor from(std::initializer_list<std::initializer_list<std::initializer_list<T>>> v);

    const Shape& shape() const { return shape_; }
    DType dtype() const { return dtype_; }
    std::int64_t numel() const { return shape_.numel(); }
    std::size_t nbytes() const;
    bool empty() const { return storage_ == nullptr; }

    // Typed element access, checked against the dtype.
    template <class T> std::span<T> data();
    template <class T> std::span<const T> data() const;
    // The single element of a one-element tensor.
    template <class T> T item() const;
    // A copy of element i (row-major) converted to double, whatever the dtype.
    double as_double(std::int64_t i) const;

    void* raw() { return storage_.get(); }
    const void* raw() const { return storage_.get(); }
    std::size_t capacity() const { return capacity_; }

    Tensor clone() const;
    // A view of the same storage with another shape and dtype; the storage must be large
    // enough. Used by plans to place values in reused buffers.
    Tensor view(const Shape& shape, DType dtype) const;
    // Copies the elements of `src` (same shape and dtype) into this tensor's storage.
    void copy_from(const Tensor& src);
    // Makes this tensor an independent copy of `src` (any shape and dtype). Its storage is
    // reused when no other tensor shares it and it is large enough, so a loop that copies
    // into the same tensor allocates once; otherwise it becomes a fresh clone.
    void assign_copy(const Tensor& src);

private:
    template <class T> void check_type(const char* what) const;

    std::shared_ptr<std::byte> storage_;
    std::size_t capacity_ = 0;
    Shape shape_;
    DType dtype_ = DType::f32;
};

// The bytes of a tensor of this shape and dtype; an adjoint::Error naming them if the
// count overflows.
std::size_t byte_size(const Shape& shape, DType dtype);

// numpy-like text: "[[0, 0], [3.5, 3.5]]", "7"; long tensors are summarised with "...".
std::string to_string(const Tensor& t);

template <class T> void Tensor::check_type(const char* what) const {
    if (!storage_)
        throw Error(
            fmt::format("Tensor::{}<{}>: the tensor is empty (it holds no storage)", what, dtype_name(dtype_of<T>)));
    if (dtype_of<T> != dtype_)
        throw Error(
            fmt::format("Tensor::{}<{}>: the tensor's dtype is {}", what, dtype_name(dtype_of<T>), dtype_name(dtype_)));
}

template <class T> std::span<T> Tensor::data() {
    check_type<T>("data");
    return {reinterpret_cast<T*>(storage_.get()), static_cast<std::size_t>(numel())};
}

template <class T> std::span<const T> Tensor::data() const {
    check_type<T>("data");
    return {reinterpret_cast<const T*>(storage_.get()), static_cast<std::size_t>(numel())};
}

template <class T> T Tensor::item() const {
    check_type<T>("item");
    if (numel() != 1) throw Error(fmt::format("Tensor::item: the tensor has shape {}, not one element", shape_));
    return data<T>()[0];
}

template <class T> Tensor Tensor::scalar(T value) {
    Tensor t(Shape{}, dtype_of<T>);
    t.data<T>()[0] = value;
    return t;
}

template <class T> Tensor Tensor::from(std::span<const T> values, const Shape& shape) {
    Tensor t(shape, dtype_of<T>);
    if (static_cast<std::int64_t>(values.size()) != t.numel())
        throw Error(fmt::format("Tensor::from: {} values for shape {} ({} elements)", values.size(), shape, t.numel()));
    std::copy(values.begin(), values.end(), t.data<T>().begin());
    return t;
}

template <class T> Tensor Tensor::from(std::initializer_list<T> v) {
    return from(std::span<const T>(v.begin(), v.size()), Shape{static_cast<std::int64_t>(v.size())});
}

template <class T> Tensor Tensor::from(std::initializer_list<std::initializer_list<T>> v) {
    const std::int64_t rows = static_cast<std::int64_t>(v.size());
    const std::int64_t cols = rows ? static_cast<std::int64_t>(v.begin()->size()) : 0;
    Tensor t(Shape{rows, cols}, dtype_of<T>);
    T* out = t.data<T>().data();
    for (const auto& row : v) {
        if (static_cast<std::int64_t>(row.size()) != cols)
            throw Error(fmt::format("Tensor::from: ragged rows ({} and {} elements)", cols, row.size()));
        out = std::copy(row.begin(), row.end(), out);
    }
    return t;
}

template <class T> Tensor Tensor::from(std::initializer_list<std::initializer_list<std::initializer_list<T>>> v) {
    const std::int64_t n0 = static_cast<std::int64_t>(v.size());
    const std::int64_t n1 = n0 ? static_cast<std::int64_t>(v.begin()->size()) : 0;
    const std::int64_t n2 = n1 ? static_cast<std::int64_t>(v.begin()->begin()->size()) : 0;
    Tensor t(Shape{n0, n1, n2}, dtype_of<T>);
    T* out = t.data<T>().data();
    for (const auto& plane : v) {
        if (static_cast<std::int64_t>(plane.size()) != n1)
            throw Error(fmt::format("Tensor::from: ragged planes ({} and {} rows)", n1, plane.size()));
        for (const auto& row : plane) {
            if (static_cast<std::int64_t>(row.size()) != n2)
                throw Error(fmt::format("Tensor::from: ragged rows ({} and {} elements)", n2, row.size()));
            out = std::copy(row.begin(), row.end(), out);
        }
    }
    return t;
}

}  // namespace adjoint

template <> struct fmt::formatter<adjoint::Tensor> : fmt::formatter<std::string_view> {
    auto format(const adjoint::Tensor& t, format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(adjoint::to_string(t), ctx);
    }
};
