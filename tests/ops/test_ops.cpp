// Every op of ops::AnyOp: hand-checked values and agreement with its reference kernel.
#include "op_cases.hpp"

namespace adjoint::test {

template <class... T> void run_all(std::variant<T...>*) {
    auto one = [](auto tag) {
        using Op = typename decltype(tag)::type;
        INFO("op: ", Op::name);
        op_case<Op>();
    };
    (one(std::type_identity<T>{}), ...);
}

TEST_CASE("every op: hand-checked values and agreement with its reference kernel") {
    run_all(static_cast<ops::AnyOp*>(nullptr));
}

}  // namespace adjoint::test
