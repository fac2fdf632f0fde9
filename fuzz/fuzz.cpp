#include "fuzz.hpp"

#include <fstream>
#include <sstream>

#include "seeds.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace adjoint::fuzz {

MemFile::MemFile(std::span<const std::uint8_t> bytes)
    : MemFile(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())) {}

MemFile::MemFile(std::string_view bytes) {
    fd_ = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n <= 0) throw std::runtime_error("writing the fuzz input failed");
        done += static_cast<std::size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
}

MemFile::~MemFile() { ::close(fd_); }

std::string MemFile::contents() const {
    std::string out;
    char buf[65536];
    for (off_t at = 0;;) {
        const ssize_t n = ::pread(fd_, buf, sizeof buf, at);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
    return out;
}

std::string written_by(const std::function<void(const std::string&)>& write) {
    char dir[] = "/tmp/adjoint-seed-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    const std::string path = std::string(dir) + "/seed";
    write(path);
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::filesystem::remove_all(dir);
    return bytes.str();
}

void finding(std::string_view what, std::string_view message) {
    std::fprintf(stderr, "FUZZ FINDING: %.*s\n  message: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(message.size()), message.data());
    std::abort();
}

}  // namespace adjoint::fuzz
