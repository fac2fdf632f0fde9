// Seed inputs made with the library's writers, through a file in a fresh temporary folder.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace adjoint::fuzz {

// Calls write(path) for a path in a temporary folder and returns the file's bytes.
std::string written_by(const std::function<void(const std::string&)>& write);

}  // namespace adjoint::fuzz
