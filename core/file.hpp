// Files, the one way every reader and writer of the library uses them (IDX files, MNIST,
// checkpoints). Reading: regular files only; a directory, FIFO, device or socket is
// refused by name, without blocking on a FIFO; the size is known before anything is read,
// so no reader allocates more than the file can justify. Writing: atomically, so that a
// crash or a failure leaves the old file or the whole new one. Internal to the library.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace adjoint {

class ReadableFile {
public:
    // Throws an adjoint::Error "<who>: cannot open "<path>": <reason>" or "... is not a
    // regular file (a directory)".
    ReadableFile(const std::string& path, std::string_view who);
    ~ReadableFile();
    ReadableFile(const ReadableFile&) = delete;
    ReadableFile& operator=(const ReadableFile&) = delete;

    int fd() const { return fd_; }
    std::uint64_t size() const { return size_; }

private:
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

// Writes `bytes` to `path`, which must be a regular file or nothing (a FIFO, a device or a
// directory there is refused, left as it was; a symbolic link is followed, and its target
// replaced): into an unnamed file in the same folder (O_TMPFILE; where the file system
// lacks it, a ".<name>.adjoint-XXXXXX" file), flushed to disk, then given a temporary
// name and renamed over `path`; the folder is flushed too. The new file keeps the mode of
// the one it replaces (else 0666 less the umask). Temporaries of `path` that no save
// holds (left by a process killed mid-save) are removed first. On failure `path` is as it
// was and an adjoint::Error says "<who>: <what failed> "<file>": <reason>".
void replace_file(const std::string& path, std::string_view bytes, std::string_view who);

// A whole file's bytes, in memory from malloc: a file too large for memory (a sparse
// one, say) is then an adjoint::Error naming it, where a std::string would throw a bare
// std::bad_alloc (and under AddressSanitizer abort).
class FileBytes {
public:
    std::string_view view() const { return {bytes_.get(), size_}; }

private:
    friend FileBytes read_file(const std::string& path, std::string_view who);
    std::unique_ptr<char, void (*)(void*)> bytes_{nullptr, std::free};
    std::size_t size_ = 0;
};

// Reads the whole file; an adjoint::Error naming it on failure.
FileBytes read_file(const std::string& path, std::string_view who);

}  // namespace adjoint
