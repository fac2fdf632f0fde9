#include <adjoint/core/error.hpp>

#include <fmt/format.h>

namespace adjoint {

std::string where(const SourceLocation& loc) { return fmt::format("{}:{}", loc.file_name(), loc.line()); }

}  // namespace adjoint
