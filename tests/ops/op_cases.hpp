// One specialization per op in ops::OpList, spread over the test files of ops/. The driver
// (test_ops.cpp) calls them all; an op without one fails to link.
#pragma once

#include "../helpers.hpp"

namespace adjoint::test {

template <class T> void op_case();

}  // namespace adjoint::test
