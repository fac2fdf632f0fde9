// The vector instruction set the kernels run: the widest the CPU has, unless the
// environment variable ADJOINT_MAX_ISA caps it (as oneDNN's ONEDNN_MAX_CPU_ISA caps its
// kernels), or set_isa() picks another (tests and benchmarks). One choice for the whole
// process: the GEMM's micro-kernel (ops/gemm.cpp) and the loops that parallel_chunks()
// compiles once per instruction set (core/parallel.hpp) both follow it. Internal to the
// library.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace adjoint {

// Narrowest first: a CPU that runs one runs those before it.
enum class Isa : std::uint8_t { portable, avx2, avx512 };

std::optional<Isa> parse_isa(std::string_view name);  // "avx512", "avx2" or "portable"
const char* isa_name(Isa isa);
Isa best_isa();  // the widest this CPU runs (AVX2 counts with FMA only)
// The one in use. Throws adjoint::Error naming ADJOINT_MAX_ISA while it holds another word.
Isa isa();
// Throws adjoint::Error if the CPU lacks it. Kernels already running keep theirs. Plans
// built before sized their products' packing space for the kernel then in use; another
// kernel whose panels need more makes those products allocate their own each call
// (correct, not free).
void set_isa(Isa isa);

}  // namespace adjoint
