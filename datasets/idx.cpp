#include <adjoint/datasets/idx.hpp>

#include "../core/file.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>

namespace adjoint {

namespace {

struct ElementType {
    std::uint8_t code;
    std::size_t bytes;  // in the file
    DType dtype;        // in memory
    const char* name;
};

constexpr std::array<ElementType, 6> element_types{{
    {0x08, 1, DType::u8, "u8"},
    {0x09, 1, DType::i32, "i8"},
    {0x0B, 2, DType::i32, "i16"},
    {0x0C, 4, DType::i32, "i32"},
    {0x0D, 4, DType::f32, "f32"},
    {0x0E, 8, DType::f64, "f64"},
}};

// Reads bytes from a raw or gzip file through zlib, which passes raw files through.
class Source {
public:
    explicit Source(const std::string& path) : path_(path) {
        ReadableFile f(path, "read_idx");  // a regular file, or an Error naming it
        file_size_ = f.size();
        unsigned char magic[2] = {0, 0};
        gzip_ = pread(f.fd(), magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        const int fd = f.release();
        file_ = gzdopen(fd, "rb");
        if (!file_) {
            close(fd);
            throw Error(fmt::format("read_idx: cannot read \"{}\" (out of memory)", path));
        }
    }
    ~Source() { gzclose(file_); }
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;

    // Reads up to n bytes; returns how many were read.
    std::size_t read(void* out, std::size_t n) {
        std::size_t done = 0;
        while (done < n) {
            const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
            const int got = gzread(file_, static_cast<char*>(out) + done, chunk);
            if (got < 0) {
                int code = 0;
                const char* msg = gzerror(file_, &code);
                throw Error(fmt::format("read_idx: \"{}\" is corrupt: {}", path_, msg));
            }
            if (got == 0) break;
            done += static_cast<std::size_t>(got);
        }
        return done;
    }

    bool gzip() const { return gzip_; }
    std::uint64_t file_size() const { return file_size_; }

private:
    std::string path_;
    gzFile file_ = nullptr;
    bool gzip_ = false;
    std::uint64_t file_size_ = 0;
};

// Deflate's largest ratio: a compressed byte inflates to at most 1032 bytes. A gzip file
// can therefore hold no more data than this many times its size.
constexpr std::uint64_t max_inflation = 1032;

template <class T> T from_big_endian(const unsigned char* p) {
    std::array<unsigned char, sizeof(T)> b;
    std::memcpy(b.data(), p, sizeof(T));
    if constexpr (std::endian::native == std::endian::little) std::reverse(b.begin(), b.end());
    T v;
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
}

// Converts n big-endian elements of `type` into `out`.
void decode(const ElementType& type, const unsigned char* in, Tensor& out, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        const unsigned char* p = in + i * static_cast<std::int64_t>(type.bytes);
        switch (type.code) {
            case 0x08: out.data<std::uint8_t>()[i] = p[0]; break;
            case 0x09: out.data<std::int32_t>()[i] = p[0] < 128 ? p[0] : p[0] - 256; break;  // signed byte
            case 0x0B: out.data<std::int32_t>()[i] = from_big_endian<std::int16_t>(p); break;
            case 0x0C: out.data<std::int32_t>()[i] = from_big_endian<std::int32_t>(p); break;
            case 0x0D: out.data<float>()[i] = from_big_endian<float>(p); break;
            case 0x0E: out.data<double>()[i] = from_big_endian<double>(p); break;
        }
    }
}

}  // namespace

Tensor read_idx(const std::string& path) {
    Source src(path);
    unsigned char head[4];
    if (src.read(head, 4) != 4) throw Error(fmt::format("read_idx: \"{}\" is shorter than the 4-byte IDX magic", path));
    if (head[0] != 0 || head[1] != 0)
        throw Error(fmt::format("read_idx: \"{}\" is not an IDX file: magic starts {:02x} {:02x}, expected 00 00", path,
                                head[0], head[1]));
    const ElementType* type = nullptr;
    for (const auto& t : element_types)
        if (t.code == head[2]) type = &t;
    if (!type) throw Error(fmt::format("read_idx: \"{}\": unknown IDX element type 0x{:02x}", path, head[2]));
    const std::size_t rank = head[3];
    if (rank == 0 || rank > Shape::max_rank)
        throw Error(fmt::format("read_idx: \"{}\": rank {} is not supported (1 to {})", path, rank, Shape::max_rank));

    std::vector<unsigned char> dims_raw(4 * rank);
    if (src.read(dims_raw.data(), dims_raw.size()) != dims_raw.size())
        throw Error(fmt::format("read_idx: \"{}\" is truncated inside its header of {} dims", path, rank));
    Shape shape;
    std::uint64_t count = 1;
    std::string dims_text;
    for (std::size_t i = 0; i < rank; ++i) {
        const std::uint32_t d = from_big_endian<std::uint32_t>(dims_raw.data() + 4 * i);
        shape.push_back(d);
        dims_text += fmt::format("{}{}", i ? " x " : "", d);
        // The product, checked: it must fit in what a tensor can index.
        if (d != 0 && count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / type->bytes / d)
            throw Error(fmt::format("read_idx: \"{}\": dims {} overflow", path, dims_text));
        count *= d;
    }
    const std::uint64_t header = 4 + 4 * rank, payload = count * type->bytes;
    // Against what the file can hold, before allocating anything: exactly its size when
    // raw; when gzip, at most what its size can inflate to (a forged size is caught here,
    // and a short stream when it is read).
    if (!src.gzip() && header + payload != src.file_size())
        throw Error(fmt::format("read_idx: \"{}\": dims {} of {} need {} bytes of data, the file has {}", path,
                                dims_text, type->name, payload, src.file_size() - std::min(src.file_size(), header)));
    if (src.gzip() && (header + payload) / max_inflation > src.file_size())
        throw Error(
            fmt::format("read_idx: \"{}\": dims {} of {} need {} bytes of data, more than a gzip file of {} "
                        "bytes can hold (deflate inflates a byte to {} at most)",
                        path, dims_text, type->name, payload, src.file_size(), max_inflation));

    Tensor out;
    std::vector<unsigned char> raw;
    try {
        out = Tensor(shape, type->dtype);
        if (type->bytes != 1 || type->dtype != DType::u8) raw.resize(payload);
    } catch (const std::exception& e) {
        throw Error(fmt::format("read_idx: \"{}\": dims {} of {}: {}", path, dims_text, type->name, e.what()));
    }
    void* dest = raw.empty() ? out.raw() : raw.data();
    if (const std::size_t got = src.read(dest, payload); got != payload)
        throw Error(fmt::format("read_idx: \"{}\" is truncated: dims {} of {} need {} bytes of data, it holds {}", path,
                                dims_text, type->name, payload, got));
    if (!raw.empty()) decode(*type, raw.data(), out, static_cast<std::int64_t>(count));
    unsigned char extra;
    if (src.read(&extra, 1) != 0)
        throw Error(fmt::format("read_idx: \"{}\" has trailing bytes after {} elements", path, count));
    return out;
}

void write_idx(const std::string& path, const Tensor& t, bool gzip) {
    std::uint8_t code = 0;
    switch (t.dtype()) {
        case DType::u8: code = 0x08; break;
        case DType::i32: code = 0x0C; break;
        case DType::f32: code = 0x0D; break;
        case DType::f64: code = 0x0E; break;
    }
    std::vector<unsigned char> bytes = {0, 0, code, static_cast<unsigned char>(t.shape().rank())};
    auto put_be = [&](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i)
            bytes.push_back(b[std::endian::native == std::endian::little ? n - 1 - i : i]);
    };
    for (std::int64_t d : t.shape()) {
        const std::uint32_t u = static_cast<std::uint32_t>(d);
        put_be(&u, 4);
    }
    const std::size_t size = dtype_size(t.dtype());
    for (std::int64_t i = 0; i < t.numel(); ++i)
        put_be(static_cast<const unsigned char*>(t.raw()) + i * static_cast<std::int64_t>(size), size);
    if (gzip) {
        gzFile f = gzopen(path.c_str(), "wb");
        if (!f || gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size()) ||
            gzclose(f) != Z_OK)
            throw Error(fmt::format("write_idx: cannot write \"{}\"", path));
    } else {
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!f) throw Error(fmt::format("write_idx: cannot write \"{}\"", path));
    }
}

}  // namespace adjoint
