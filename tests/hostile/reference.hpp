// The hostile-input suite's own view of the file formats, written from their descriptions
// (include/adjoint/datasets/idx.hpp, include/adjoint/models/checkpoint.hpp), not from the
// readers: decoders that say what a file holds or that it is invalid, builders of forged
// files, gzip made in memory, and gzip bombs. Used by test_hostile.cpp and make_data.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <adjoint/core/tensor.hpp>
#include <adjoint/models/checkpoint.hpp>

namespace adjoint::hostile {

using Bytes = std::string;  // a file's bytes

Bytes read_bytes(const std::string& path);
void write_bytes(const std::string& path, std::string_view bytes);

// One gzip member holding `raw` (zlib's deflate at `level`).
Bytes gzip(std::string_view raw, int level = 9);
// A gzip file of about 1 KB per MiB that inflates to `prefix` followed by `mib` MiB of
// zeros, built without deflating all of it: one stream whose full-flushed 1 MiB blocks
// repeat (with the true CRC-32 and length in its trailer), or, if `members`, one member
// per MiB, concatenated.
Bytes gzip_bomb(std::string_view prefix, std::uint64_t mib, bool members);

// IDX: 0, 0, type, rank, the dims as big-endian u32.
Bytes idx_header(unsigned char type, const std::vector<std::uint32_t>& dims);
// What reading the IDX file at `path` must give: its tensor, or nullopt if it is invalid
// (bad magic, type or rank; dims that overflow; a payload that is not exactly what the
// dims need; for gzip, a corrupt stream or more data declared than 1032 times the file
// size, deflate's largest ratio). gzip (1f 8b first) is inflated with zlib's gz functions,
// which also pass concatenated members and ignore non-gzip bytes after a member.
std::optional<Tensor> expected_idx(const std::string& path);

// A checkpoint's fields, for forging files: entry_of gives those of a valid file.
struct Entry {
    std::string name;
    std::uint8_t dtype = 0;
    std::uint8_t rank = 0;
    std::vector<std::int64_t> dims;
    std::uint64_t bytes = 0;
    Bytes payload;
    std::uint32_t crc = 0;
};
Entry entry_of(const std::string& name, const Tensor& t);
Bytes checkpoint_bytes(const std::vector<Entry>& entries, std::optional<std::uint32_t> count = std::nullopt,
                       std::uint32_t version = 1);

// Where a tensor's fields lie in a checkpoint (offsets into the file).
struct Layout {
    std::size_t name_length, name, dtype, rank, dims, byte_count, payload, crc, end;
};

// What loading a checkpoint must give: `valid` and its tensors, or why not and, when the
// fault lies in a tensor whose name has been read, that tensor's name.
struct Verdict {
    bool valid = false;
    std::vector<NamedTensor> tensors;
    std::vector<Layout> layout;  // of the tensors read
    std::string tensor;          // when invalid: the tensor at fault ("" if none)
    std::string why;             // when invalid, for reports
};
Verdict decode_checkpoint(std::string_view bytes, bool allow_non_finite = false);

// A name read from a file, as messages must show it: control characters as \xNN (a NUL
// would cut the message short).
std::string printable(std::string_view name);

}  // namespace adjoint::hostile
