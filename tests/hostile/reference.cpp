#include "reference.hpp"

#include <zlib.h>

#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

namespace adjoint::hostile {

namespace {

constexpr std::uint64_t int64_max = std::numeric_limits<std::int64_t>::max();

// Little-endian integers, as checkpoints store them.
template <class T> void put_le(Bytes& out, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i)
        out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff));
}

std::uint32_t crc_of(std::string_view b) {
    return static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size())));
}

// Deflates `in` into the stream with `flush`; returns what came out.
Bytes deflate_step(z_stream& s, std::string_view in, int flush) {
    Bytes out;
    std::array<unsigned char, 1 << 16> buffer{};
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // zlib's API is not const
    s.avail_in = static_cast<uInt>(in.size());
    do {
        s.next_out = buffer.data();
        s.avail_out = static_cast<uInt>(buffer.size());
        if (deflate(&s, flush) == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
        out.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - s.avail_out);
    } while (s.avail_out == 0);
    return out;
}

struct IdxType {
    unsigned char code;
    std::size_t bytes;
    DType dtype;
};
constexpr std::array<IdxType, 6> idx_types{{{0x08, 1, DType::u8},
                                            {0x09, 1, DType::i32},
                                            {0x0B, 2, DType::i32},
                                            {0x0C, 4, DType::i32},
                                            {0x0D, 4, DType::f32},
                                            {0x0E, 8, DType::f64}}};

std::uint64_t big_endian(const unsigned char* p, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v << 8 | p[i];
    return v;
}

// The IDX tensor in `b` (the bytes after any gzip), or nullopt. `gzip_file_size`: the
// size of the gzip file they came from, 0 for a raw file.
std::optional<Tensor> decode_idx(std::string_view b, std::uint64_t gzip_file_size) {
    const auto* u = reinterpret_cast<const unsigned char*>(b.data());
    if (b.size() < 4 || u[0] != 0 || u[1] != 0) return std::nullopt;
    const IdxType* type = nullptr;
    for (const IdxType& t : idx_types)
        if (t.code == u[2]) type = &t;
    const std::size_t rank = u[3];
    if (!type || rank == 0 || rank > Shape::max_rank || b.size() < 4 + 4 * rank) return std::nullopt;
    Shape shape;
    std::uint64_t count = 1;
    for (std::size_t i = 0; i < rank; ++i) {
        const std::uint64_t d = big_endian(u + 4 + 4 * i, 4);
        std::uint64_t next = 0, bytes = 0;
        if (d != 0 && (__builtin_mul_overflow(count, d, &next) || __builtin_mul_overflow(next, type->bytes, &bytes) ||
                       bytes > int64_max))
            return std::nullopt;  // the byte count overflows
        count *= d;
        shape.push_back(static_cast<std::int64_t>(d));
    }
    const std::uint64_t header = 4 + 4 * rank, payload = count * type->bytes;
    if (gzip_file_size != 0 && (header + payload) / 1032 > gzip_file_size) return std::nullopt;
    if (b.size() != header + payload) return std::nullopt;  // truncated, or trailing bytes
    Tensor t(shape, type->dtype);
    const unsigned char* p = u + header;
    for (std::uint64_t i = 0; i < count; ++i, p += type->bytes) {
        const std::uint64_t v = big_endian(p, type->bytes);
        switch (type->code) {
            case 0x08: t.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(v); break;
            case 0x09: t.data<std::int32_t>()[i] = static_cast<std::int32_t>(v) - (v >= 0x80 ? 0x100 : 0); break;
            case 0x0B: t.data<std::int32_t>()[i] = static_cast<std::int32_t>(v) - (v >= 0x8000 ? 0x10000 : 0); break;
            case 0x0C: t.data<std::int32_t>()[i] = static_cast<std::int32_t>(v); break;
            case 0x0D: {
                const auto bits = static_cast<std::uint32_t>(v);
                std::memcpy(&t.data<float>()[i], &bits, 4);
                break;
            }
            default: std::memcpy(&t.data<double>()[i], &v, 8); break;
        }
    }
    return t;
}

}  // namespace

Bytes read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(f), {}};
}

void write_bytes(const std::string& path, std::string_view bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

Bytes gzip(std::string_view raw, int level) {
    z_stream s{};
    if (deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2 failed");
    Bytes out = deflate_step(s, raw, Z_FINISH);
    deflateEnd(&s);
    return out;
}

Bytes gzip_bomb(std::string_view prefix, std::uint64_t mib, bool members) {
    const Bytes zeros(std::size_t{1} << 20, '\0');
    Bytes first(prefix);
    first += zeros;
    if (members) {
        Bytes out = gzip(first);
        const Bytes member = gzip(zeros);
        for (std::uint64_t i = 1; i < mib; ++i) out += member;
        return out;
    }
    z_stream s{};
    if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2 failed");
    // After a full flush deflate starts afresh, so every further MiB of zeros comes out
    // as the same bytes: deflate it once and repeat it.
    Bytes out = deflate_step(s, first, Z_FULL_FLUSH);
    const Bytes block = deflate_step(s, zeros, Z_FULL_FLUSH);
    for (std::uint64_t i = 2; i < mib; ++i) out += block;
    Bytes end = deflate_step(s, {}, Z_FINISH);
    deflateEnd(&s);
    out += end.substr(0, end.size() - 8);  // the last block; the trailer follows
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(first.data()), static_cast<uInt>(first.size()));
    const uLong crc_zeros = crc32(0L, reinterpret_cast<const Bytef*>(zeros.data()), static_cast<uInt>(zeros.size()));
    for (std::uint64_t i = 1; i < mib; ++i) crc = crc32_combine(crc, crc_zeros, static_cast<z_off_t>(zeros.size()));
    put_le(out, static_cast<std::uint32_t>(crc));
    put_le(out, static_cast<std::uint32_t>(prefix.size() + (mib << 20)));  // the length mod 2^32
    return out;
}

Bytes idx_header(unsigned char type, const std::vector<std::uint32_t>& dims) {
    Bytes b{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
    for (std::uint32_t d : dims)
        for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((d >> s) & 0xff));
    return b;
}

// The bytes a gzip file holds: its members' data, concatenated; after a member, bytes that
// do not start another (0x1f) are ignored, as zlib's gzread does. nullopt if a member is
// corrupt or cut short (anywhere, its trailer too), or if it holds more than `cap`.
std::optional<Bytes> gunzip(std::string_view gz, std::size_t cap) {
    z_stream s{};
    if (inflateInit2(&s, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2 failed");
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));  // zlib's API is not const
    s.avail_in = static_cast<uInt>(gz.size());
    Bytes out;
    std::array<char, 1 << 16> buffer{};
    std::optional<Bytes> result;
    for (;;) {
        s.next_out = reinterpret_cast<Bytef*>(buffer.data());
        s.avail_out = static_cast<uInt>(buffer.size());
        const int ret = inflate(&s, Z_NO_FLUSH);
        out.append(buffer.data(), buffer.size() - s.avail_out);
        if (out.size() > cap) break;
        if (ret == Z_STREAM_END) {
            if (s.avail_in == 0 || *s.next_in != 0x1f) {
                result = std::move(out);
                break;
            }
            inflateReset(&s);  // another member
        } else if (ret != Z_OK && !(ret == Z_BUF_ERROR && s.avail_out == 0)) {
            break;  // corrupt, or cut short (Z_BUF_ERROR with all input used)
        }
    }
    inflateEnd(&s);
    return result;
}

std::optional<Tensor> expected_idx(const std::string& path) {
    const Bytes file = read_bytes(path);
    if (file.size() < 2 || file[0] != '\x1f' || file[1] != '\x8b') return decode_idx(file, 0);
    // Inflated no further than any valid file of the suite (a few hundred KB): more means
    // the file is invalid. (The oracle must not be what makes a case's peak RSS.)
    const std::optional<Bytes> all = gunzip(file, std::size_t{1} << 20);
    if (!all) return std::nullopt;
    return decode_idx(*all, file.size());
}

Entry entry_of(const std::string& name, const Tensor& t) {
    Entry e{name,
            static_cast<std::uint8_t>(t.dtype()),
            static_cast<std::uint8_t>(t.shape().rank()),
            {},
            t.nbytes(),
            Bytes(static_cast<const char*>(t.raw()), t.nbytes()),
            0};
    e.dims.assign(t.shape().begin(), t.shape().end());
    e.crc = crc_of(e.payload);
    return e;
}

Bytes checkpoint_bytes(const std::vector<Entry>& entries, std::optional<std::uint32_t> count, std::uint32_t version) {
    Bytes out = "ADJOINT\n";
    put_le(out, version);
    put_le(out, count.value_or(static_cast<std::uint32_t>(entries.size())));
    for (const Entry& e : entries) {
        put_le(out, static_cast<std::uint32_t>(e.name.size()));
        out += e.name;
        put_le(out, e.dtype);
        put_le(out, e.rank);
        for (std::int64_t d : e.dims) put_le(out, d);
        put_le(out, e.bytes);
        out += e.payload;
        put_le(out, e.crc);
    }
    return out;
}

Verdict decode_checkpoint(std::string_view b, bool allow_non_finite) {
    Verdict v;
    std::size_t pos = 0;
    // Reads n little-endian bytes, or fails the verdict.
    auto get = [&](std::size_t n, std::uint64_t& out) {
        if (b.size() - pos < n) return false;
        out = 0;
        for (std::size_t i = 0; i < n; ++i) out |= std::uint64_t{static_cast<unsigned char>(b[pos + i])} << (8 * i);
        pos += n;
        return true;
    };
    auto invalid = [&](std::string why) {
        v.valid = false;
        v.tensors.clear();
        v.why = std::move(why);
        return v;
    };
    std::uint64_t version = 0, count = 0;
    if (b.size() < 8 || b.substr(0, 8) != "ADJOINT\n") return invalid("bad magic");
    pos = 8;
    if (!get(4, version) || version != 1) return invalid("no version 1");
    if (!get(4, count)) return invalid("no tensor count");
    std::set<std::string> names;
    for (std::uint64_t k = 0; k < count; ++k) {
        v.tensor.clear();  // no tensor is at fault until its name is read
        Layout l{};
        std::uint64_t name_length = 0, dtype = 0, rank = 0, byte_count = 0, crc = 0;
        l.name_length = pos;
        if (!get(4, name_length) || b.size() - pos < name_length) return invalid("truncated name");
        l.name = pos;
        const std::string name(b.substr(pos, name_length));
        pos += name_length;
        v.tensor = name;  // from here on, a fault lies in this tensor
        l.dtype = pos;
        if (!get(1, dtype)) return invalid("truncated dtype");
        if (dtype > static_cast<std::uint64_t>(DType::u8)) return invalid("unknown dtype");
        l.rank = pos;
        if (!get(1, rank)) return invalid("truncated rank");
        if (rank > Shape::max_rank) return invalid("rank too large");
        l.dims = pos;
        Shape shape;
        std::uint64_t elements = 1;
        for (std::uint64_t i = 0; i < rank; ++i) {
            std::uint64_t d = 0;
            if (!get(8, d)) return invalid("truncated dims");
            if (d > int64_max || __builtin_mul_overflow(elements, d, &elements) || elements > int64_max)
                return invalid("impossible dim");
            shape.push_back(static_cast<std::int64_t>(d));
        }
        l.byte_count = pos;
        if (!get(8, byte_count)) return invalid("truncated byte count");
        const std::size_t size = dtype_size(static_cast<DType>(dtype));
        std::uint64_t expected = 0;
        if (__builtin_mul_overflow(elements, size, &expected) || byte_count != expected)
            return invalid("byte count does not match the shape");
        l.payload = pos;
        if (b.size() - pos < byte_count || b.size() - pos - byte_count < 4) return invalid("truncated payload");
        const std::string_view payload = b.substr(pos, byte_count);
        pos += byte_count;
        l.crc = pos;
        if (!get(4, crc) || crc != crc_of(payload)) return invalid("CRC mismatch");
        Tensor t(shape, static_cast<DType>(dtype));
        std::memcpy(t.raw(), payload.data(), payload.size());
        if (!allow_non_finite && (t.dtype() == DType::f32 || t.dtype() == DType::f64))
            for (std::int64_t i = 0; i < t.numel(); ++i)
                if (!std::isfinite(t.as_double(i))) return invalid("non-finite value");
        if (!names.insert(name).second) return invalid("duplicate name");
        l.end = pos;
        v.layout.push_back(l);
        v.tensors.push_back({name, std::move(t)});
    }
    v.tensor.clear();
    if (pos != b.size()) return invalid("trailing bytes");
    v.valid = true;
    return v;
}

std::string printable(std::string_view name) {
    std::string out;
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            constexpr const char* hex = "0123456789abcdef";
            out += {'\\', 'x', hex[u >> 4], hex[u & 15]};
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace adjoint::hostile
