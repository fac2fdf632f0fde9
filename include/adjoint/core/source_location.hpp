// SourceLocation: where in the user's program a node was built or a run was asked for.
// It is SourceLocation; clang before 15 (whose tools, clang-tidy and the fuzzers'
// clang 14, read this code too) lacks the builtin that libstdc++'s needs, so there it is a
// stand-in with the same interface, made from the builtins clang 14 has.
#pragma once

#include <cstdint>

#if defined(__clang__) && __clang_major__ < 15
namespace adjoint {
class SourceLocation {
public:
    static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                            std::uint_least32_t line = __builtin_LINE()) noexcept {
        SourceLocation loc;
        loc.file_ = file;
        loc.line_ = line;
        return loc;
    }
    constexpr const char* file_name() const noexcept { return file_; }
    constexpr std::uint_least32_t line() const noexcept { return line_; }

private:
    const char* file_ = "";
    std::uint_least32_t line_ = 0;
};
}  // namespace adjoint
#else
#include <source_location>
namespace adjoint {
using SourceLocation = std::source_location;
}  // namespace adjoint
#endif
