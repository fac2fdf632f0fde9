// The library's ops by name: how a graph file is read back. Internal ops (those of
// ops::OpList) only; an op of a user's own cannot be read from a file.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include <adjoint/core/op.hpp>

namespace adjoint {

// The op named `name` with the attributes `attrs` wrote (OpBase::attrs()). Throws an
// adjoint::Error naming the op and what is wrong: an unknown name, an attribute missing,
// unknown or not of its type.
std::shared_ptr<const OpBase> make_op(std::string_view name, std::string_view attrs);
// Every op's name, in the op list's order.
std::vector<std::string_view> op_names();

}  // namespace adjoint
