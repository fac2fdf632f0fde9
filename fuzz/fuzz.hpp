// What the fuzz targets share: the libFuzzer entry point they define, an input handed to
// the library as a file, and the checks whose failure is a finding.
//
// Each target is built twice: with clang's libFuzzer (meson option -Dfuzz=true, see
// scripts/fuzz), and in every build as a replay program (replay.cpp) that runs the
// target over its seed corpus and its regression inputs, as an ordinary test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace adjoint::fuzz {

// The target's seed inputs, built with the library's own writers (replay --write-seeds
// writes them as the seed corpus).
std::vector<std::string> seeds();

// A fuzz input as a file the readers open by path, as they would a user's: an unnamed
// in-memory file (memfd), reached as /proc/self/fd/N.
class MemFile {
public:
    explicit MemFile(std::span<const std::uint8_t> bytes);
    explicit MemFile(std::string_view bytes);
    ~MemFile();
    MemFile(const MemFile&) = delete;
    MemFile& operator=(const MemFile&) = delete;
    const std::string& path() const { return path_; }
    // The file's current bytes (to read back what a writer put there).
    std::string contents() const;

private:
    int fd_ = -1;
    std::string path_;
};

// A finding: prints what was expected and the message at hand, then aborts, which
// libFuzzer records as a crash and the replay test as a failure.
[[noreturn]] void finding(std::string_view what, std::string_view message);
inline void expect(bool ok, std::string_view what, std::string_view message = {}) {
    if (!ok) finding(what, message);
}

}  // namespace adjoint::fuzz
