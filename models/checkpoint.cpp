#include <adjoint/models/checkpoint.hpp>

#include "crc.hpp"

#include "../core/file.hpp"
#include "printable.hpp"

#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
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

}  // namespace

std::uint32_t crc32_of(const void* p, std::size_t n) {
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

namespace {

// Reads little-endian fields from a buffer, failing with the file name, the tensor being
// read (once its name is) and the offset.
struct Reader {
    const std::string& path;
    std::string_view data;
    std::size_t pos = 0;
    std::string tensor;

    void need(std::size_t n, const char* what) const {
        if (data.size() - pos < n)
            throw Error(fmt::format("load_checkpoint: \"{}\" is truncated: {}{} needs {} bytes at offset {}, {} remain",
                                    path, what, tensor.empty() ? "" : fmt::format(" of tensor \"{}\"", tensor), n, pos,
                                    data.size() - pos));
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

}  // namespace

std::optional<std::int64_t> first_non_finite(const Tensor& t) {
    if (t.empty() || !is_floating(t.dtype())) return std::nullopt;
    return visit_floating(t.dtype(), "first_non_finite", [&](auto tag) -> std::optional<std::int64_t> {
        const auto d = t.data<decltype(tag)>();
        for (std::size_t i = 0; i < d.size(); ++i)
            if (!std::isfinite(d[i])) return static_cast<std::int64_t>(i);
        return std::nullopt;
    });
}

void save_checkpoint(const std::string& path, const std::vector<NamedTensor>& tensors,
                     const CheckpointOptions& options) {
    // What load_checkpoint would refuse is not written: a repeated name, a count or a name
    // longer than the format's 32-bit fields.
    constexpr std::size_t most = std::numeric_limits<std::uint32_t>::max();
    if (tensors.size() > most)
        throw Error(
            fmt::format("save_checkpoint: {} tensors are more than a checkpoint holds ({}); \"{}\" was not written",
                        tensors.size(), most, path));
    std::set<std::string_view> names;
    std::string out(magic, sizeof magic);
    put(out, version);
    put(out, static_cast<std::uint32_t>(tensors.size()));
    for (const NamedTensor& t : tensors) {
        if (!names.insert(t.name).second)
            throw Error(fmt::format("save_checkpoint: two tensors are named \"{}\"; \"{}\" was not written",
                                    printable(t.name), path));
        if (t.name.size() > most)
            throw Error(
                fmt::format("save_checkpoint: a tensor name of {} bytes is longer than a checkpoint holds; "
                            "\"{}\" was not written",
                            t.name.size(), path));
        if (t.value.empty()) throw Error(fmt::format("save_checkpoint: tensor \"{}\" is empty", t.name));
        if (const auto bad = first_non_finite(t.value); bad && !options.allow_non_finite)
            throw Error(
                fmt::format("save_checkpoint: tensor \"{}\" holds {} at index {}; \"{}\" was not written "
                            "(CheckpointOptions::allow_non_finite saves it anyway)",
                            t.name, t.value.as_double(*bad), *bad, path));
        put(out, static_cast<std::uint32_t>(t.name.size()));
        out += t.name;
        put(out, static_cast<std::uint8_t>(t.value.dtype()));
        put(out, static_cast<std::uint8_t>(t.value.shape().rank()));
        for (std::int64_t d : t.value.shape()) put(out, d);
        put(out, static_cast<std::uint64_t>(t.value.nbytes()));
        out.append(static_cast<const char*>(t.value.raw()), t.value.nbytes());
        put(out, crc32_of(t.value.raw(), t.value.nbytes()));
    }
    replace_file(path, out, "save_checkpoint");
}

std::vector<NamedTensor> load_checkpoint(const std::string& path, const CheckpointOptions& options) {
    const FileBytes file = read_file(path, "load_checkpoint");
    const std::string_view data = file.view();
    Reader r{path, data, 0, {}};
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
        r.tensor.clear();
        const auto name_len = r.get<std::uint32_t>("a name length");
        r.need(name_len, "a name");
        std::string name(data.substr(r.pos, name_len));
        r.pos += name_len;
        r.tensor = printable(name);  // as messages show it
        const auto dtype = r.get<std::uint8_t>("a dtype");
        if (dtype > static_cast<std::uint8_t>(DType::u8))
            throw Error(
                fmt::format("load_checkpoint: \"{}\": tensor \"{}\" has unknown dtype code {}", path, r.tensor, dtype));
        const auto rank = r.get<std::uint8_t>("a rank");
        if (rank > Shape::max_rank)
            throw Error(fmt::format("load_checkpoint: \"{}\": tensor \"{}\" has rank {}", path, r.tensor, rank));
        Shape shape;
        std::uint64_t elements = 1;
        for (std::uint8_t i = 0; i < rank; ++i) {
            const auto d = r.get<std::int64_t>("a dim");
            if (d < 0 || __builtin_mul_overflow(elements, static_cast<std::uint64_t>(d), &elements) ||
                elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                throw Error(fmt::format("load_checkpoint: \"{}\": tensor \"{}\" has an impossible dim {} (dim {})",
                                        path, r.tensor, d, i));
            shape.push_back(d);
        }
        const auto bytes = r.get<std::uint64_t>("a byte count");
        std::uint64_t expected = 0;
        if (__builtin_mul_overflow(elements, dtype_size(static_cast<DType>(dtype)), &expected) || bytes != expected)
            throw Error(
                fmt::format("load_checkpoint: \"{}\": tensor \"{}\" of shape {} needs {} bytes, the file says {}", path,
                            r.tensor, shape, expected, bytes));
        if (bytes > data.size() - r.pos || data.size() - r.pos - bytes < 4)  // (bytes + 4 may wrap around)
            throw Error(fmt::format(
                "load_checkpoint: \"{}\" is truncated: tensor \"{}\" of shape {} needs {} bytes of "
                "data and a checksum at offset {}, {} remain",
                path, r.tensor, shape,
                bytes <= ~std::uint64_t{0} - 4 ? fmt::format("{}", bytes + 4) : fmt::format("{} + 4", bytes), r.pos,
                data.size() - r.pos));
        Tensor t(shape, static_cast<DType>(dtype));
        std::memcpy(t.raw(), data.data() + r.pos, bytes);
        r.pos += bytes;
        const auto crc = r.get<std::uint32_t>("a checksum");
        if (crc != crc32_of(t.raw(), t.nbytes()))
            throw Error(fmt::format(
                "load_checkpoint: \"{}\": tensor \"{}\" fails its CRC-32 check (the file is corrupt)", path, r.tensor));
        if (const auto bad = first_non_finite(t); bad && !options.allow_non_finite)
            throw Error(
                fmt::format("load_checkpoint: \"{}\": tensor \"{}\" holds {} at index {} "
                            "(CheckpointOptions::allow_non_finite loads it anyway)",
                            path, r.tensor, t.as_double(*bad), *bad));
        if (!names.insert(name).second)
            throw Error(fmt::format("load_checkpoint: \"{}\": tensor \"{}\" appears twice", path, r.tensor));
        tensors.push_back({std::move(name), std::move(t)});
    }
    if (r.pos != data.size())
        throw Error(fmt::format("load_checkpoint: \"{}\" has {} trailing bytes after {} tensors", path,
                                data.size() - r.pos, count));
    return tensors;
}

}  // namespace adjoint
