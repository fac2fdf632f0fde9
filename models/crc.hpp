// CRC-32 (zlib's) of bytes: checkpoints' checksums, and the data distributed ranks compare.
// Internal to models/.
#pragma once

#include <cstddef>
#include <cstdint>

namespace adjoint {

std::uint32_t crc32_of(const void* p, std::size_t n);

}  // namespace adjoint
