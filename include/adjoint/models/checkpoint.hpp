// Checkpoints: named tensors in a binary file of our own.
//
//   "ADJOINT\n" (8 bytes), u32 version = 1, u32 tensor count, then per tensor:
//   u32 name length, name (UTF-8), u8 dtype, u8 rank, rank x i64 dims,
//   u64 byte count, the bytes (row-major, little-endian), u32 CRC-32 of the bytes.
//   All integers little-endian.
//
// Reading validates the whole file before returning anything; writing goes to a
// temporary file in the same folder, fsyncs it and renames it over the target, so a crash
// never leaves a half-written file under the real name.
#pragma once

#include <string>
#include <vector>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

struct NamedTensor {
    std::string name;
    Tensor value;
};

void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors);
// Throws an adjoint::Error naming the file and what is wrong (magic, version, a size that
// does not match the dims or the file, a checksum, a repeated name).
std::vector<NamedTensor> load_checkpoint(const std::string& path);

}  // namespace adjoint
