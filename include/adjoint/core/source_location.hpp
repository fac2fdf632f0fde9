// SourceLocation: where in the user's program a node was built or a run was asked for,
// taken where a defaulted argument is evaluated, in the caller. The same type whatever
// compiles the program (g++, or clang 14, whose tools read this code too and whose
// std::source_location does not work with libstdc++), so that the library and the
// programs using it agree on every signature that takes one.
#pragma once

#include <cstdint>

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
