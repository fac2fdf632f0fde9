// An op's scratch memory: the plan's workspace for the step (OpBase::workspace_bytes), or,
// for a call outside a plan (or one whose workspace is short: a plan built before
// set_isa() picked another GEMM kernel, whose panels need more), memory of the call's own.
// Internal to ops/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>

namespace adjoint::ops {

// `bytes` rounded up to whole 64-byte cache lines: each part of a workspace starts on one.
constexpr std::size_t aligned(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// A call's own scratch memory: uninitialised, 64-byte aligned, freed with it.
struct OwnScratch {
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte[], Free> memory;
};

// ws itself where it holds `bytes` (callers cut it into their parts), else `bytes` of
// `own`, allocated now. Throws std::bad_alloc when that fails.
inline std::span<std::byte> scratch(std::span<std::byte> ws, std::size_t bytes, OwnScratch& own) {
    if (ws.size() >= bytes) return ws;
    if (bytes > SIZE_MAX - 63) throw std::bad_alloc();
    own.memory.reset(static_cast<std::byte*>(std::aligned_alloc(64, aligned(bytes))));
    if (!own.memory) throw std::bad_alloc();
    return {own.memory.get(), bytes};
}

}  // namespace adjoint::ops
