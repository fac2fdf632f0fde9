#include "file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

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
    auto not_regular = [&](const struct stat& st) {
        return Error(fmt::format("{}: \"{}\" is not a regular file ({})", who, path, kind_of(st.st_mode)));
    };
    // Something else is refused before it is opened (opening a device may do something);
    // and if it changes meanwhile, O_NONBLOCK keeps the open of a FIFO from waiting for a
    // writer, and fstat refuses it.
    if (struct stat st{}; stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) throw not_regular(st);
    fd_ = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw Error(fmt::format("{}: cannot open \"{}\": {}", who, path, std::strerror(errno)));
    struct stat st {};
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int err = errno;
        const bool known = fstat(fd_, &st) == 0;
        close(fd_);
        if (known) throw not_regular(st);
        throw Error(fmt::format("{}: cannot open \"{}\": {}", who, path, std::strerror(err)));
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
        if (n == 0) errno = EIO;  // (write sets no errno when it writes nothing)
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// Temporaries of a target `name` are ".<name>.adjoint-XXXXXX": a pattern of our own, so
// that no other file is ever taken for one.
constexpr std::string_view temporary_marker = ".adjoint-";
std::string temporary_pattern(const std::filesystem::path& dir, const std::string& name) {
    std::string file = ".";  // appended, not "." + ...: g++ 12 warns falsely (-Wrestrict) on that
    file += name;
    file += temporary_marker;
    file += "XXXXXX";
    return (dir / file).string();
}

// Removes the temporaries of `name` that no save holds: a save locks its temporary
// (flock) for as long as it lives, and the lock dies with a killed process.
void remove_stale_temporaries(const std::filesystem::path& dir, const std::string& name) {
    std::string prefix = ".";
    prefix += name;
    prefix += temporary_marker;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string f = e.path().filename().string();
        if (f.size() != prefix.size() + 6 || !f.starts_with(prefix)) continue;
        const int fd = open(e.path().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st {};
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0) unlink(e.path().c_str());
        close(fd);
    }
}

// The process's umask, which a new file's mode obeys. Read from /proc: umask() would set
// it, racing with other threads creating files.
mode_t process_umask() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("Umask:")) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
    return 022;
}

// A temporary for a new version of `path` in `dir`, written and flushed; locked so that
// no other save takes it for a stale one. Named once finish() has run.
class Temporary {
public:
    Temporary(const std::filesystem::path& dir, const std::string& name, const std::string& path, std::string_view who)
        : dir_(dir), name_(name), path_(path), who_(who) {}
    Temporary(const Temporary&) = delete;
    Temporary& operator=(const Temporary&) = delete;
    ~Temporary() {
        if (fd_ >= 0) close(fd_);
        if (!named_.empty()) unlink(named_.c_str());
    }

    // Writes `bytes` with `mode`: into an unnamed file (O_TMPFILE: a process killed
    // meanwhile leaves nothing behind) given a name only once it is complete, else (a file
    // system without O_TMPFILE, or no /proc to name it through) into a named one.
    void write(std::string_view bytes, mode_t mode) {
        fd_ = open(dir_.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd_ >= 0) {
            fill(bytes, mode);
            if (link_unnamed()) return;
            close(fd_);
        }
        named_ = temporary_pattern(dir_, name_);
        fd_ = mkstemp(named_.data());
        if (fd_ < 0) {
            named_.clear();
            fail(who_, "cannot create a temporary file for", path_);
        }
        fill(bytes, mode);
    }

    // Closes the file and renames it over `path` in one step.
    void replace() {
        const int fd = fd_;
        fd_ = -1;
        if (close(fd) != 0 || std::rename(named_.c_str(), path_.c_str()) != 0)
            fail(who_, "cannot rename the new file onto", path_);
        named_.clear();
    }

private:
    void fill(std::string_view bytes, mode_t mode) {
        if (flock(fd_, LOCK_EX) != 0 || fchmod(fd_, mode) != 0 || !write_all(fd_, bytes) || fsync(fd_) != 0)
            fail(who_, "cannot write", path_);
    }

    // Links the unnamed file under a fresh temporary name (Linux cannot link over an
    // existing file; the rename then replaces the target). False where /proc is missing.
    bool link_unnamed() {
        const std::string self = fmt::format("/proc/self/fd/{}", fd_);
        std::random_device random;
        for (int attempt = 0;; ++attempt) {
            std::string candidate = temporary_pattern(dir_, name_);
            for (std::size_t i = candidate.size() - 6; i < candidate.size(); ++i)  // the XXXXXX
                candidate[i] = "abcdefghijklmnopqrstuvwxyz"[random() % 26];
            if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, candidate.c_str(), AT_SYMLINK_FOLLOW) == 0) {
                named_ = candidate;
                return true;
            }
            if (errno == ENOENT && access("/proc/self/fd", F_OK) != 0) return false;
            if (errno != EEXIST || attempt == 100) fail(who_, "cannot name the new file for", path_);
        }
    }

    std::filesystem::path dir_;
    std::string name_, path_;
    std::string_view who_;
    int fd_ = -1;
    std::string named_;  // the temporary's name, once it has one
};

}  // namespace

void replace_file(const std::string& path, std::string_view bytes, std::string_view who) {
    namespace fs = std::filesystem;
    // A symbolic link is followed: its target is replaced, and the link stays a link.
    std::error_code ec;
    const fs::path resolved = fs::weakly_canonical(path, ec);
    const std::string real = ec ? path : resolved.string();
    const fs::path target(real);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::string name = target.filename().string();
    struct stat old {};
    const bool exists = stat(real.c_str(), &old) == 0;
    // The rename below would put a regular file in place of a FIFO or a device (as root,
    // /dev/null too), and fail on a directory: only a regular file is replaced.
    if (exists && !S_ISREG(old.st_mode))
        throw Error(fmt::format("{}: \"{}\" is {}, not a regular file; it was left as it was", who, path,
                                kind_of(old.st_mode)));
    remove_stale_temporaries(dir, name);
    Temporary tmp(dir, name, real, who);
    tmp.write(bytes, exists ? (old.st_mode & 07777) : (0666 & ~process_umask()));
    tmp.replace();
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
