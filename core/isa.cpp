#include "isa.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include <adjoint/core/error.hpp>
#include <fmt/format.h>

namespace adjoint {

namespace {

Isa detect() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
    return Isa::portable;
}

Isa initial() {
    const char* cap = std::getenv("ADJOINT_MAX_ISA");
    if (!cap || !*cap) return best_isa();
    const std::optional<Isa> want = parse_isa(cap);
    if (!want) throw Error(fmt::format("ADJOINT_MAX_ISA is \"{}\": it must be avx512, avx2 or portable", cap));
    return std::min(best_isa(), *want);
}

// Initialised on first use (a throw leaves it to be tried again).
std::atomic<Isa>& in_use() {
    static std::atomic<Isa> chosen{initial()};
    return chosen;
}

}  // namespace

std::optional<Isa> parse_isa(std::string_view name) {
    if (name == "avx512") return Isa::avx512;
    if (name == "avx2") return Isa::avx2;
    if (name == "portable") return Isa::portable;
    return std::nullopt;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        case Isa::portable: break;
    }
    return "portable";
}

Isa best_isa() {
    static const Isa best = detect();
    return best;
}

Isa isa() { return in_use().load(std::memory_order_relaxed); }

void set_isa(Isa isa) {
    if (isa > best_isa())
        throw Error(fmt::format("the {} kernels need a CPU with {}; this one's widest is {}", isa_name(isa),
                                isa_name(isa), isa_name(best_isa())));
    in_use().store(isa, std::memory_order_relaxed);
}

}  // namespace adjoint
