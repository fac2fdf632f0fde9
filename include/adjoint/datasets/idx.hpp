// IDX files (the MNIST format): a big-endian header of magic (0, 0, type, rank), rank
// u32 dims, then the elements, big-endian. Raw or gzip, told apart by the gzip magic
// 1f 8b, not by the file name.
#pragma once

#include <string>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

// Reads an IDX file into a tensor of its shape. Element types: 0x08 u8, 0x09 i8 and
// 0x0B i16 (widened to i32), 0x0C i32, 0x0D f32, 0x0E f64. Everything is checked before
// the payload is allocated (magic, type, rank, the dims' product against the payload
// the file holds) and after it is read (truncation, trailing bytes); each failure is an
// adjoint::Error naming the file and the numbers involved.
Tensor read_idx(const std::string& path);

// Writes a tensor as IDX (u8, i32, f32 or f64), raw or gzip, replacing `path` at once
// (a crash leaves the old file or the new one); for tests and tools.
void write_idx(const std::string& path, const Tensor& t, bool gzip = false);

}  // namespace adjoint
