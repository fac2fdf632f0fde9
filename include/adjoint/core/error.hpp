// adjoint::Error: every mistake a user can make surfaces as one of these, with the
// values involved in the message and, where a node is at fault, its name and the place
// in the user's source where it was built.
#pragma once

#include <adjoint/core/source_location.hpp>
#include <stdexcept>
#include <string>

namespace adjoint {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// "prog.cpp:12", for messages that point back into the user's source.
std::string where(const SourceLocation& loc);

}  // namespace adjoint
