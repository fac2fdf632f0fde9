// Element types. A tensor's bytes are interpreted through its DType; kernels are written
// once as templates and instantiated per type through the dispatch helpers below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include <adjoint/core/error.hpp>

namespace adjoint {

enum class DType : std::uint8_t { f32, f64, i32, u8 };

constexpr std::size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32: return 4;
        case DType::f64: return 8;
        case DType::i32: return 4;
        case DType::u8: return 1;
    }
    return 0;
}

constexpr std::string_view dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::f64: return "f64";
        case DType::i32: return "i32";
        case DType::u8: return "u8";
    }
    return "?";
}

// The dtype named `name` ("f32", as dtype_name writes it), if any.
constexpr std::optional<DType> dtype_from_name(std::string_view name) {
    for (DType t : {DType::f32, DType::f64, DType::i32, DType::u8})
        if (dtype_name(t) == name) return t;
    return std::nullopt;
}

constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

template <class T> struct dtype_of_t;
template <> struct dtype_of_t<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of_t<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of_t<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of_t<std::uint8_t> { static constexpr DType value = DType::u8; };
template <class T> inline constexpr DType dtype_of = dtype_of_t<T>::value;

// Calls f(T{}) with T the C++ type of `t`.
template <class F> decltype(auto) visit_dtype(DType t, F&& f) {
    switch (t) {
        case DType::f32: return f(float{});
        case DType::f64: return f(double{});
        case DType::i32: return f(std::int32_t{});
        case DType::u8: return f(std::uint8_t{});
    }
    throw Error("invalid dtype");
}

// Same, for the floating types only; `what` names the op for the error.
template <class F> decltype(auto) visit_floating(DType t, std::string_view what, F&& f) {
    switch (t) {
        case DType::f32: return f(float{});
        case DType::f64: return f(double{});
        default: break;
    }
    throw Error(std::string(what) + ": dtype " + std::string(dtype_name(t)) + " is not supported (f32, f64 only)");
}

}  // namespace adjoint
