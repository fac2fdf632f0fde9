// Checkpoints: named tensors in a binary file of our own.
//
//   "ADJOINT\n" (8 bytes), u32 version = 1, u32 tensor count, then per tensor:
//   u32 name length, name (UTF-8), u8 dtype, u8 rank, rank x i64 dims,
//   u64 byte count, the bytes (row-major, little-endian), u32 CRC-32 of the bytes.
//   All integers little-endian.
//
// Reading validates the whole file before returning anything. Writing goes to an unnamed
// file in the same folder, flushed and then renamed over the target, so a crash never
// leaves a half-written file under the real name, nor (where the file system has
// O_TMPFILE) a temporary beside it. Weights that are NaN or infinite are refused both
// ways unless asked for: a model that diverged is not saved over a good checkpoint, and
// one that did is not loaded.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

struct NamedTensor {
    std::string name;
    Tensor value;
};

struct CheckpointOptions {
    bool allow_non_finite = false;  // save and load tensors holding NaN or infinities
};

// Throws an adjoint::Error naming the tensor and the first bad index for a non-finite
// value, or naming `path` if something other than a regular file is there (a directory, a
// FIFO, a device); the file at `path` is then as it was.
void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors,
                     const CheckpointOptions& options = {});
// Throws an adjoint::Error naming the file and what is wrong (not a regular file, magic,
// version, a truncation, a size that does not match the dims, a checksum, a repeated
// name, a non-finite value).
std::vector<NamedTensor> load_checkpoint(const std::string& path, const CheckpointOptions& options = {});

// The index of the first NaN or infinity of a floating tensor, if any.
std::optional<std::int64_t> first_non_finite(const Tensor& t);

}  // namespace adjoint
