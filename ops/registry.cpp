// make_op over the op list: an op with attributes reads them with its from_attrs, one
// without (NoAttrs) takes none. An op of the list with attributes but no from_attrs does
// not compile.
#include <adjoint/ops/registry.hpp>

#include <adjoint/core/error.hpp>

#include "op_list.hpp"

namespace adjoint {

namespace {

template <class T> std::shared_ptr<const OpBase> build(std::string_view attrs) {
    if constexpr (std::is_base_of_v<ops::NoAttrs, T>) {
        if (!attrs.empty()) throw std::invalid_argument(fmt::format("it takes no attributes, not \"{}\"", attrs));
        return std::make_shared<ops::OpAdapter<T>>(T{});
    } else {
        return std::make_shared<ops::OpAdapter<T>>(T::from_attrs(ops::Attrs(attrs)));
    }
}

template <class V> struct Registry;
template <class... T> struct Registry<std::variant<T...>> {
    static std::shared_ptr<const OpBase> make(std::string_view name, std::string_view attrs) {
        std::shared_ptr<const OpBase> out;
        ((out == nullptr && name == T::name ? void(out = build<T>(attrs)) : void()), ...);
        return out;
    }
    static std::vector<std::string_view> names() { return {T::name...}; }
};

}  // namespace

std::shared_ptr<const OpBase> make_op(std::string_view name, std::string_view attrs) {
    std::shared_ptr<const OpBase> op;
    try {
        op = Registry<ops::OpList>::make(name, attrs);
    } catch (const std::invalid_argument& e) {
        throw Error(fmt::format("op {}: {}", name, e.what()));
    }
    if (!op) throw Error(fmt::format("there is no op named \"{}\"", name.substr(0, 100)));
    return op;
}

std::vector<std::string_view> op_names() { return Registry<ops::OpList>::names(); }

}  // namespace adjoint
