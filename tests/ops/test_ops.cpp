// One test case per op of ops::OpList, named after the op's type: "op<adjoint::ops::Relu>"
// (test_ops -tc='*::Relu>' runs that op alone). Each runs the op's op_case: hand-checked
// values, edge values, agreement with its naive reference kernel, gradient checks.
#include <tuple>

#include "op_cases.hpp"
#include "ops/op_list.hpp"

namespace adjoint::test {

template <class V> struct as_tuple;
template <class... T> struct as_tuple<std::variant<T...>> { using type = std::tuple<T...>; };

TEST_CASE_TEMPLATE_DEFINE("op", Op, every_op) {
    INFO("op: ", Op::name);
    op_case<Op>();
}
TEST_CASE_TEMPLATE_APPLY(every_op, as_tuple<ops::OpList>::type);

}  // namespace adjoint::test
