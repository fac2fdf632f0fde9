// Names read from a file, as messages print them: control characters as \xNN. A NUL would
// otherwise end the message wherever what() is read as a C string, and the rest (what is
// wrong) would be lost. Internal to the library.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace adjoint {

inline std::string printable(std::string_view name) {
    std::string out;
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return out;
}

}  // namespace adjoint
