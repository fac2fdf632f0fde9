#include <adjoint/datasets/idx.hpp>

#include "../core/file.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
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

// Reads the bytes of a raw file, or the data of a gzip one (its members, concatenated),
// through zlib's inflate: its gzread takes a stream cut inside its trailer for a clean
// end when the data fills the caller's buffer, and would pass a truncated file.
class Source {
public:
    explicit Source(const std::string& path) : path_(path), file_(path, "read_idx") {
        unsigned char magic[2] = {0, 0};
        gzip_ = pread(file_.fd(), magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (gzip_ && inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK)  // gzip members only
            throw Error(fmt::format("read_idx: cannot read \"{}\" (out of memory)", path));
    }
    ~Source() {
        if (gzip_) inflateEnd(&z_);
    }
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;

    // Reads up to n bytes; returns how many were read.
    std::size_t read(void* out, std::size_t n) {
        auto* to = static_cast<unsigned char*>(out);
        std::size_t done = 0;
        if (!gzip_) {
            while (done < n && fill()) done += take(to + done, n - done);
            return done;
        }
        while (done < n && !finished_) {
            if (!fill()) {  // the end of the file
                if (!member_ended_)
                    throw Error(fmt::format("read_idx: \"{}\" is truncated: its gzip stream is cut short", path_));
                finished_ = true;
                break;
            }
            if (member_ended_) {
                // Another member, or bytes that are not gzip, which are ignored (as gzread does).
                if (*z_.next_in != 0x1f) {
                    finished_ = true;
                    break;
                }
                inflateReset(&z_);
                member_ended_ = false;
            }
            const auto chunk = static_cast<uInt>(std::min<std::size_t>(n - done, 1u << 30));
            z_.next_out = to + done;
            z_.avail_out = chunk;
            const int ret = inflate(&z_, Z_NO_FLUSH);
            done += chunk - z_.avail_out;
            if (ret == Z_STREAM_END) member_ended_ = true;  // its CRC-32 and length checked
            else if (ret != Z_OK && ret != Z_BUF_ERROR)
                throw Error(fmt::format("read_idx: \"{}\" is corrupt: {}", path_,
                                        z_.msg ? z_.msg : "its gzip stream cannot be inflated"));
        }
        return done;
    }

    bool gzip() const { return gzip_; }
    std::uint64_t file_size() const { return file_.size(); }

private:
    // Input in z_.next_in: false at the end of the file.
    bool fill() {
        if (z_.avail_in > 0) return true;
        if (eof_) return false;
        ssize_t got = 0;
        do got = ::read(file_.fd(), buffer_.data(), buffer_.size());
        while (got < 0 && errno == EINTR);
        if (got < 0) throw Error(fmt::format("read_idx: cannot read \"{}\": {}", path_, std::strerror(errno)));
        eof_ = got == 0;
        z_.next_in = buffer_.data();
        z_.avail_in = static_cast<uInt>(got);
        return !eof_;
    }
    // Raw files: up to n buffered bytes.
    std::size_t take(unsigned char* to, std::size_t n) {
        const std::size_t k = std::min<std::size_t>(n, z_.avail_in);
        std::memcpy(to, z_.next_in, k);
        z_.next_in += k;
        z_.avail_in -= static_cast<uInt>(k);
        return k;
    }

    std::string path_;
    ReadableFile file_;  // a regular file, or an Error naming it
    bool gzip_ = false;
    z_stream z_{};
    std::vector<unsigned char> buffer_ = std::vector<unsigned char>(std::size_t{1} << 16);
    bool eof_ = false, member_ended_ = false, finished_ = false;
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

// Converts n big-endian elements of `type` into `out`, from element `first` on.
void decode(const ElementType& type, const unsigned char* in, Tensor& out, std::int64_t first, std::int64_t n) {
    for (std::int64_t i = first; i < first + n; ++i) {
        const unsigned char* p = in + (i - first) * static_cast<std::int64_t>(type.bytes);
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
    try {
        out = Tensor(shape, type->dtype);
    } catch (const std::exception& e) {
        throw Error(fmt::format("read_idx: \"{}\": dims {} of {}: {}", path, dims_text, type->name, e.what()));
    }
    auto truncated = [&](std::uint64_t got) {
        return Error(fmt::format("read_idx: \"{}\" is truncated: dims {} of {} need {} bytes of data, it holds {}",
                                 path, dims_text, type->name, payload, got));
    };
    if (type->dtype == DType::u8) {  // as stored
        if (const std::size_t got = src.read(out.raw(), payload); got != payload) throw truncated(got);
    } else {
        // Converted a block at a time: no second buffer of the payload's size, and no more
        // memory touched than the data the file really holds (a gzip file may declare up to
        // 1032 times its size and hold less).
        std::vector<unsigned char> block(std::min<std::uint64_t>(payload, std::uint64_t{1} << 20));
        for (std::uint64_t done = 0; done < payload;) {
            const std::size_t n = std::min<std::uint64_t>(block.size(), payload - done);  // whole elements
            if (const std::size_t got = src.read(block.data(), n); got != n) throw truncated(done + got);
            decode(*type, block.data(), out, static_cast<std::int64_t>(done / type->bytes),
                   static_cast<std::int64_t>(n / type->bytes));
            done += n;
        }
    }
    unsigned char extra;
    if (src.read(&extra, 1) != 0)
        throw Error(fmt::format("read_idx: \"{}\" has trailing bytes after {} elements", path, count));
    return out;
}

namespace {

// `bytes` as one gzip member, the way gzip(1) writes it.
std::string gzip_of(const std::string& bytes, const std::string& path) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(fmt::format("write_idx: cannot compress \"{}\" (out of memory)", path));
    std::string out(deflateBound(&z, bytes.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));  // zlib's API is not const
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    std::size_t in_left = bytes.size(), out_left = out.size();
    int ret = Z_OK;
    while (ret == Z_OK) {  // in pieces: zlib counts in 32-bit unsigned
        const auto in_piece = static_cast<uInt>(std::min<std::size_t>(in_left, 1u << 30));
        const auto out_piece = static_cast<uInt>(std::min<std::size_t>(out_left, 1u << 30));
        z.avail_in = in_piece;
        z.avail_out = out_piece;
        ret = deflate(&z, in_piece == in_left ? Z_FINISH : Z_NO_FLUSH);
        in_left -= in_piece - z.avail_in;
        out_left -= out_piece - z.avail_out;
    }
    deflateEnd(&z);
    if (ret != Z_STREAM_END) throw Error(fmt::format("write_idx: cannot compress \"{}\"", path));
    out.resize(out.size() - out_left);
    return out;
}

}  // namespace

void write_idx(const std::string& path, const Tensor& t, bool gzip) {
    std::uint8_t code = 0;
    switch (t.dtype()) {
        case DType::u8: code = 0x08; break;
        case DType::i32: code = 0x0C; break;
        case DType::f32: code = 0x0D; break;
        case DType::f64: code = 0x0E; break;
    }
    std::string bytes = {0, 0, static_cast<char>(code), static_cast<char>(t.shape().rank())};
    auto put_be = [&](const void* p, std::size_t n) {
        const auto* b = static_cast<const char*>(p);
        for (std::size_t i = 0; i < n; ++i)
            bytes.push_back(b[std::endian::native == std::endian::little ? n - 1 - i : i]);
    };
    for (std::int64_t d : t.shape()) {
        if (d > std::numeric_limits<std::uint32_t>::max())
            throw Error(fmt::format("write_idx: \"{}\": IDX dims are 32-bit; {} has a dim of {}", path, t.shape(), d));
        const auto u = static_cast<std::uint32_t>(d);
        put_be(&u, 4);
    }
    const std::size_t size = dtype_size(t.dtype());
    for (std::int64_t i = 0; i < t.numel(); ++i)
        put_be(static_cast<const unsigned char*>(t.raw()) + i * static_cast<std::int64_t>(size), size);
    replace_file(path, gzip ? gzip_of(bytes, path) : bytes, "write_idx");
}

}  // namespace adjoint
