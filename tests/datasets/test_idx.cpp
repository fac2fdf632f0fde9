// IDX files built byte by byte in the test: every element type, raw and gzip, and each
// way a file can be malformed.
#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "../helpers.hpp"

namespace adjoint::test {

namespace {

namespace fs = std::filesystem;

using Bytes = std::vector<unsigned char>;

// Header: 0 0 type rank, then big-endian u32 dims.
Bytes header(unsigned char type, const std::vector<std::uint32_t>& dims) {
    Bytes b{0, 0, type, static_cast<unsigned char>(dims.size())};
    for (std::uint32_t d : dims)
        for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
    return b;
}

void write(const std::string& path, const Bytes& b, bool gzip = false) {
    if (gzip) {
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
        gzclose(f);
    } else {
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
}

Bytes operator+(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("read_idx: every element type, big-endian, raw and gzip") {
    TempDir dir;
    for (bool gz : {false, true}) {
        CAPTURE(gz);
        const std::string p = dir / (gz ? "a.gz-named-anything" : "a.idx");
        write(p, header(0x08, {2, 3}) + Bytes{1, 2, 3, 4, 5, 255}, gz);
        Tensor t = read_idx(p);
        CHECK(t.dtype() == DType::u8);
        CHECK(t.shape() == Shape{2, 3});
        CHECK(values(t) == std::vector<double>{1, 2, 3, 4, 5, 255});
        write(p, header(0x09, {3}) + Bytes{0x7f, 0x80, 0xff}, gz);  // i8, widened to i32
        t = read_idx(p);
        CHECK(t.dtype() == DType::i32);
        CHECK(values(t) == std::vector<double>{127, -128, -1});
        write(p, header(0x0B, {2}) + Bytes{0x01, 0x02, 0xff, 0xfe}, gz);  // i16
        CHECK(values(read_idx(p)) == std::vector<double>{258, -2});
        write(p, header(0x0C, {1, 1}) + Bytes{0xff, 0xff, 0xff, 0xfe}, gz);  // i32
        CHECK(values(read_idx(p)) == std::vector<double>{-2});
        write(p, header(0x0D, {1}) + Bytes{0x3f, 0xc0, 0x00, 0x00}, gz);  // f32 1.5
        t = read_idx(p);
        CHECK(t.dtype() == DType::f32);
        CHECK(values(t) == std::vector<double>{1.5});
        write(p, header(0x0E, {1}) + Bytes{0xc0, 0x04, 0, 0, 0, 0, 0, 0}, gz);  // f64 -2.5
        CHECK(values(read_idx(p)) == std::vector<double>{-2.5});
    }
    // write_idx round-trips, raw and gzip.
    const Tensor f = random_tensor({4, 5}, DType::f32, -1, 1, 1);
    write_idx(dir / "f.idx", f);
    write_idx(dir / "f.idx.gz", f, true);
    CHECK(bitwise_equal(read_idx(dir / "f.idx"), f));
    CHECK(bitwise_equal(read_idx(dir / "f.idx.gz"), f));
}

TEST_CASE("read_idx: malformed files are errors naming the file and the numbers") {
    TempDir dir;
    const std::string p = dir / "bad";
    for (bool gz : {false, true}) {
        CAPTURE(gz);
        write(p, Bytes{0, 0}, gz);
        CHECK_ERROR(read_idx(p), p.c_str(), "shorter than the 4-byte IDX magic");
        write(p, Bytes{1, 0, 8, 1, 0, 0, 0, 0}, gz);
        CHECK_ERROR(read_idx(p), "not an IDX file: magic starts 01 00");
        write(p, header(0x07, {1}) + Bytes{0}, gz);
        CHECK_ERROR(read_idx(p), "unknown IDX element type 0x07");
        write(p, Bytes{0, 0, 8, 0}, gz);
        CHECK_ERROR(read_idx(p), "rank 0 is not supported");
        write(p, Bytes{0, 0, 8, 9} + Bytes(36, 1), gz);
        CHECK_ERROR(read_idx(p), "rank 9 is not supported");
        write(p, Bytes{0, 0, 8, 3, 0, 0, 0, 2}, gz);
        CHECK_ERROR(read_idx(p), "truncated inside its header of 3 dims");
        write(p, header(0x08, {2, 3}) + Bytes{1, 2, 3}, gz);
        CHECK_ERROR(read_idx(p), "dims 2 x 3 of u8 need 6 bytes of data");
        write(p, header(0x0C, {2}) + Bytes(12, 0), gz);  // gzip: found while reading
        CHECK_ERROR(read_idx(p), gz ? "has trailing bytes after 2 elements" : "dims 2 of i32 need 8 bytes of data");
        write(p, header(0x0D, {0xffffffff, 0xffffffff, 0xffffffff}) + Bytes{1}, gz);
        CHECK_ERROR(read_idx(p), "overflow");
    }
    // A gzip stream cut short, and trailing bytes inside a gzip stream whose size says
    // otherwise, are caught while reading.
    const Bytes good = header(0x08, {1000}) + Bytes(1000, 7);
    write(p, good, true);
    const auto size = fs::file_size(p);
    fs::resize_file(p, size - 12);
    const std::string cut = error_of([&] { (void)read_idx(p); });
    CHECK(cut.find(p) != std::string::npos);
    CHECK((cut.find("is truncated") != std::string::npos || cut.find("unexpected end of file") != std::string::npos));
    CHECK_ERROR(read_idx(dir / "missing"), "cannot open");
    // A small gzip file that declares a huge payload (its trailer forged to match, or
    // not) is refused before anything is allocated: no gzip file holds more than 1032
    // times its size.
    write(p, header(0x08, {0xffffff, 0xffffff}), true);
    CHECK_ERROR(read_idx(p), p.c_str(), "need 281474943156225 bytes of data, more than a gzip file of", "can hold");
    // Only regular files: a directory or a FIFO is refused by name, at once.
    CHECK_ERROR(read_idx(dir.path.string()), "is not a regular file (a directory)");
    REQUIRE(mkfifo((dir / "fifo").c_str(), 0600) == 0);
    CHECK_ERROR(read_idx(dir / "fifo"), "fifo\" is not a regular file (a FIFO)");
}

TEST_CASE("load_mnist: the four files, raw or .gz, checked against each other") {
    TempDir dir;
    auto images = [&](const std::string& name, std::uint32_t n, bool gz) {
        write(dir / (name + (gz ? ".gz" : "")), header(0x08, {n, 2, 2}) + Bytes(4 * std::size_t{n}, 9), gz);
    };
    auto labels = [&](const std::string& name, const Bytes& l, bool gz) {
        write(dir / (name + (gz ? ".gz" : "")), header(0x08, {static_cast<std::uint32_t>(l.size())}) + l, gz);
    };
    images("train-images-idx3-ubyte", 3, false);
    labels("train-labels-idx1-ubyte", {0, 9, 5}, true);
    images("t10k-images-idx3-ubyte", 2, true);
    labels("t10k-labels-idx1-ubyte", {1, 2}, false);
    const Mnist m = load_mnist(dir.path.string());
    CHECK(m.train_images.shape() == Shape{3, 2, 2});
    CHECK(m.train_images.dtype() == DType::u8);
    CHECK(values(m.train_labels) == std::vector<double>{0, 9, 5});
    CHECK(m.test_images.shape() == Shape{2, 2, 2});

    labels("t10k-labels-idx1-ubyte", {1, 2, 3}, false);
    CHECK_ERROR(load_mnist(dir.path.string()), "has 2 images but", "has 3 labels");
    labels("t10k-labels-idx1-ubyte", {1, 10}, false);
    CHECK_ERROR(load_mnist(dir.path.string()), "label 10 at index 1 is not in 0-9");
    fs::remove(dir / "t10k-labels-idx1-ubyte");
    CHECK_ERROR(load_mnist(dir.path.string()), "neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz");
    labels("t10k-labels-idx1-ubyte", {1, 2}, false);
    write(dir / "train-images-idx3-ubyte", header(0x0D, {3, 2, 2}) + Bytes(48, 0));
    CHECK_ERROR(load_mnist(dir.path.string()), "holds f32 (3, 2, 2); expected u8 of rank 3");
    CHECK_ERROR(load_mnist(dir / "nowhere"), "is not a directory");
    // Images of another size, and a file of no samples, name their files.
    images("train-images-idx3-ubyte", 3, false);
    write(dir / "t10k-images-idx3-ubyte.gz", header(0x08, {2, 3, 3}) + Bytes(18, 9), true);
    CHECK_ERROR(load_mnist(dir.path.string()), "train-images-idx3-ubyte\" holds images of 2 x 2 but",
                "t10k-images-idx3-ubyte.gz\" of 3 x 3");
    images("t10k-images-idx3-ubyte", 0, true);
    labels("t10k-labels-idx1-ubyte", {}, false);
    CHECK_ERROR(load_mnist(dir.path.string()), "t10k-images-idx3-ubyte.gz\" holds no data: its shape is (0, 2, 2)");
    // Labels that are not whole numbers of the classes, NaN among them, are refused
    // before any conversion (a NaN cast to an integer is undefined behaviour).
    CHECK_ERROR(to_categorical(Tensor::from({0.f, NAN}), 3), "label nan at index 1 is not in 0-2");
    CHECK_ERROR(to_categorical(Tensor::from({0.5f}), 3), "label 0.5 at index 0");
}

}  // namespace adjoint::test
