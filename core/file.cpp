#include "file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include <adjoint/core/error.hpp>
#include <fmt/format.h>

namespace adjoint {

namespace {

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

}  // namespace

ReadableFile::ReadableFile(const std::string& path, std::string_view who) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    fd_ = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw Error(fmt::format("{}: cannot open \"{}\": {}", who, path, std::strerror(errno)));
    struct stat st {};
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
        const std::string what = fstat(fd_, &st) != 0 ? std::strerror(errno) : kind_of(st.st_mode);
        close(fd_);
        throw Error(fmt::format("{}: \"{}\" is not a regular file ({})", who, path, what));
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    const int flags = fcntl(fd_, F_GETFL);
    if (flags >= 0) fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
}

ReadableFile::~ReadableFile() {
    if (fd_ >= 0) close(fd_);
}

}  // namespace adjoint

namespace adjoint {

namespace {

[[noreturn]] void fail(std::string_view who, std::string_view what, const std::string& file) {
    throw Error(fmt::format("{}: {} \"{}\": {}", who, what, file, std::strerror(errno)));
}

// Writes all of `bytes` to fd; false (errno set) on failure.
bool write_all(int fd, std::string_view bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// A fresh ".<name>.XXXXXX" in dir, for mkstemp.
std::string temporary_pattern(const std::filesystem::path& dir, const std::string& name) {
    std::string file = ".";  // appended, not "." + ...: g++ 12 warns falsely (-Wrestrict) on that
    file += name;
    file += ".XXXXXX";
    return (dir / file).string();
}

// Removes ".<name>.XXXXXX" files: temporaries of this target whose save was killed.
void remove_stale_temporaries(const std::filesystem::path& dir, const std::string& name) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string f = e.path().filename().string();
        if (f.size() == name.size() + 8 && f.starts_with("." + name + ".") && e.is_regular_file(ec))
            std::filesystem::remove(e.path(), ec);
    }
}

}  // namespace

void replace_file(const std::string& path, std::string_view bytes, std::string_view who) {
    const std::filesystem::path target(path);
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const std::string name = target.filename().string();
    struct stat old {};
    const bool exists = stat(path.c_str(), &old) == 0;
    // The rename below would put a regular file in place of a FIFO or a device (as root,
    // /dev/null too), and fail on a directory: only a regular file is replaced.
    if (exists && !S_ISREG(old.st_mode))
        throw Error(fmt::format("{}: \"{}\" is {}, not a regular file; it was left as it was", who, path,
                                kind_of(old.st_mode)));
    remove_stale_temporaries(dir, name);
    const mode_t mode = exists ? (old.st_mode & 07777) : 0644;

    // The new contents, flushed, in an unnamed file where the file system allows it (a
    // process killed now leaves nothing behind), else in a named temporary.
    int fd = open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    std::string tmp;
    if (fd < 0) {
        tmp = temporary_pattern(dir, name);
        fd = mkstemp(tmp.data());
        if (fd < 0) fail(who, "cannot create a temporary file for", path);
    }
    auto discard = [&] {
        close(fd);
        if (!tmp.empty()) unlink(tmp.c_str());
    };
    if (fchmod(fd, mode) != 0 || !write_all(fd, bytes) || fsync(fd) != 0) {
        const int err = errno;
        discard();
        errno = err;
        fail(who, "cannot write", path);
    }
    // An unnamed file gets a temporary name (link it, then rename: Linux cannot link over
    // an existing file), and the rename replaces the target in one step.
    if (tmp.empty()) {
        const std::string self = fmt::format("/proc/self/fd/{}", fd);
        for (int attempt = 0; tmp.empty(); ++attempt) {
            std::string candidate = temporary_pattern(dir, name);
            std::random_device random;
            for (char& c : candidate)  // the pattern's XXXXXX, at its end
                if (c == 'X' && &c >= candidate.data() + candidate.size() - 6)
                    c = "abcdefghijklmnopqrstuvwxyz"[random() % 26];
            if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, candidate.c_str(), AT_SYMLINK_FOLLOW) == 0) tmp = candidate;
            else if (errno != EEXIST || attempt == 100) {
                const int err = errno;
                close(fd);
                errno = err;
                fail(who, "cannot name the new file for", path);
            }
        }
    }
    if (close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        unlink(tmp.c_str());
        errno = err;
        fail(who, "cannot rename the new file onto", path);
    }
    if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {  // the rename, durable
        fsync(dfd);
        close(dfd);
    }
}

FileBytes read_file(const std::string& path, std::string_view who) {
    const ReadableFile f(path, who);
    FileBytes b;
    b.bytes_.reset(static_cast<char*>(std::malloc(std::max<std::uint64_t>(f.size(), 1))));
    if (!b.bytes_) throw Error(fmt::format("{}: \"{}\": out of memory reading its {} bytes", who, path, f.size()));
    while (b.size_ < f.size()) {
        const ssize_t n = read(f.fd(), b.bytes_.get() + b.size_, f.size() - b.size_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(who, "cannot read", path);
        if (n == 0) break;  // the file shrank meanwhile: what was there
        b.size_ += static_cast<std::size_t>(n);
    }
    return b;
}

}  // namespace adjoint
