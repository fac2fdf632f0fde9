#include <adjoint/models/checkpoint.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace adjoint {

namespace {

constexpr char magic[8] = {'A', 'D', 'J', 'O', 'I', 'N', 'T', '\n'};

// Integers are written byte by byte (put, Reader::get), whatever the machine; tensor bytes
// are copied as they are in memory, which is little-endian only on such a machine.
static_assert(std::endian::native == std::endian::little,
              "checkpoints store tensor bytes as in memory: a big-endian build needs a byte swap here");
constexpr std::uint32_t version = 1;

template <class T> void put(std::string& out, T v) {
    static_assert(std::is_integral_v<T>);
    for (std::size_t i = 0; i < sizeof(T); ++i)
        out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff));
}

std::uint32_t crc_of(const void* p, std::size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const auto* b = static_cast<const Bytef*>(p);
    while (n > 0) {  // crc32 takes a uInt length
        const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
        crc = crc32(crc, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return static_cast<std::uint32_t>(crc);
}

// Reads little-endian fields from a buffer, failing with the file name and offset.
struct Reader {
    const std::string& path;
    const std::string& data;
    std::size_t pos = 0;

    void need(std::size_t n, const char* what) const {
        if (data.size() - pos < n)
            throw Error(fmt::format("load_checkpoint: \"{}\" is truncated: {} needs {} bytes at offset {}, {} remain",
                                    path, what, n, pos, data.size() - pos));
    }
    template <class T> T get(const char* what) {
        need(sizeof(T), what);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i)
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[pos + i])) << (8 * i);
        pos += sizeof(T);
        return static_cast<T>(v);
    }
};

void fail_errno(const std::string& what, const std::string& path) {
    throw Error(fmt::format("save_checkpoint: {} \"{}\": {}", what, path, std::strerror(errno)));
}

}  // namespace

void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors) {
    std::string out(magic, sizeof magic);
    put(out, version);
    put(out, static_cast<std::uint32_t>(tensors.size()));
    for (const NamedTensor& t : tensors) {
        if (t.value.empty()) throw Error(fmt::format("save_checkpoint: tensor \"{}\" is empty", t.name));
        put(out, static_cast<std::uint32_t>(t.name.size()));
        out += t.name;
        put(out, static_cast<std::uint8_t>(t.value.dtype()));
        put(out, static_cast<std::uint8_t>(t.value.shape().rank()));
        for (std::int64_t d : t.value.shape()) put(out, d);
        put(out, static_cast<std::uint64_t>(t.value.nbytes()));
        out.append(static_cast<const char*>(t.value.raw()), t.value.nbytes());
        put(out, crc_of(t.value.raw(), t.value.nbytes()));
    }
    // Write a temporary file beside the target, flush it to disk, then rename: the target
    // is either the old file or the complete new one.
    const std::filesystem::path target(path);
    const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
    std::string name = ".";  // appended, not "." + ...: g++ 12 warns falsely (-Wrestrict) on that
    name += target.filename().string();
    name += ".XXXXXX";
    std::string tmp = (std::filesystem::path(dir) / name).string();
    const int fd = mkstemp(tmp.data());
    if (fd < 0) fail_errno("cannot create a temporary file for", path);
    // mkstemp makes the file 0600; keep the mode of the file we replace, else 0644.
    struct stat old {};
    fchmod(fd, stat(path.c_str(), &old) == 0 ? (old.st_mode & 07777) : 0644);
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = write(fd, out.data() + done, out.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            close(fd);
            unlink(tmp.c_str());
            fail_errno("cannot write", tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp.c_str());
        fail_errno("cannot flush", tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        fail_errno("cannot rename the temporary file onto", path);
    }
    if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {  // make the rename durable
        fsync(dfd);
        close(dfd);
    }
}

std::vector<NamedTensor> load_checkpoint(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(fmt::format("load_checkpoint: cannot open \"{}\"", path));
    const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    Reader r{path, data};
    r.need(sizeof magic, "the magic");
    if (std::memcmp(data.data(), magic, sizeof magic) != 0)
        throw Error(fmt::format("load_checkpoint: \"{}\" is not an adjoint checkpoint (bad magic)", path));
    r.pos = sizeof magic;
    const auto v = r.get<std::uint32_t>("the version");
    if (v != version)
        throw Error(fmt::format("load_checkpoint: \"{}\" has format version {}; this build reads version {}", path, v,
                                version));
    const auto count = r.get<std::uint32_t>("the tensor count");
    std::vector<NamedTensor> tensors;
    std::set<std::string> names;
    for (std::uint32_t k = 0; k < count; ++k) {
        const auto name_len = r.get<std::uint32_t>("a name length");
        r.need(name_len, "a name");
        std::string name = data.substr(r.pos, name_len);
        r.pos += name_len;
        const auto dtype = r.get<std::uint8_t>("a dtype");
        if (dtype > static_cast<std::uint8_t>(DType::u8))
            throw Error(
                fmt::format("load_checkpoint: \"{}\": tensor \"{}\" has unknown dtype code {}", path, name, dtype));
        const auto rank = r.get<std::uint8_t>("a rank");
        if (rank > Shape::max_rank)
            throw Error(fmt::format("load_checkpoint: \"{}\": tensor \"{}\" has rank {}", path, name, rank));
        Shape shape;
        std::uint64_t elements = 1;
        for (std::uint8_t i = 0; i < rank; ++i) {
            const auto d = r.get<std::int64_t>("a dim");
            if (d < 0 || (d > 0 && elements > data.size() / static_cast<std::uint64_t>(d)))
                throw Error(
                    fmt::format("load_checkpoint: \"{}\": tensor \"{}\" has an impossible dim {}", path, name, d));
            shape.push_back(d);
            elements *= static_cast<std::uint64_t>(d);
        }
        const auto bytes = r.get<std::uint64_t>("a byte count");
        const std::uint64_t expected = elements * dtype_size(static_cast<DType>(dtype));
        if (bytes != expected)
            throw Error(
                fmt::format("load_checkpoint: \"{}\": tensor \"{}\" of shape {} needs {} bytes, the file says {}", path,
                            name, shape, expected, bytes));
        r.need(bytes + 4, "tensor data and checksum");
        Tensor t(shape, static_cast<DType>(dtype));
        std::memcpy(t.raw(), data.data() + r.pos, bytes);
        r.pos += bytes;
        const auto crc = r.get<std::uint32_t>("a checksum");
        if (crc != crc_of(t.raw(), t.nbytes()))
            throw Error(fmt::format(
                "load_checkpoint: \"{}\": tensor \"{}\" fails its CRC-32 check (the file is corrupt)", path, name));
        if (!names.insert(name).second)
            throw Error(fmt::format("load_checkpoint: \"{}\": tensor \"{}\" appears twice", path, name));
        tensors.push_back({std::move(name), std::move(t)});
    }
    if (r.pos != data.size())
        throw Error(fmt::format("load_checkpoint: \"{}\" has {} trailing bytes after {} tensors", path,
                                data.size() - r.pos, count));
    return tensors;
}

}  // namespace adjoint
