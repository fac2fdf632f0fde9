// Fuzz target: the IDX reader (raw and gzip), on any bytes.
//
// Holds when: read_idx returns a tensor no larger than the input can justify (a raw file
// holds its elements; a gzip stream inflates at most 1032-fold, and i8/i16 widen to i32,
// 4-fold), or throws an adjoint::Error that names the file. Anything else (another
// exception, a crash, a sanitizer report, a huge allocation) is a finding.
#include <adjoint/adjoint.hpp>

#include "fuzz.hpp"
#include "seeds.hpp"

namespace adjoint::fuzz {

std::vector<std::string> seeds() {
    std::vector<std::string> out;
    const Tensor images = Tensor::from<std::uint8_t>({{0, 1, 2}, {253, 254, 255}});
    const Tensor values = Tensor::from({{1.5f, -2.f}, {0.f, 3.25f}});
    const Tensor labels = Tensor::from<std::int32_t>({7, 0, -3});
    for (bool gzip : {false, true}) {
        out.push_back(written_by([&](const std::string& p) { write_idx(p, images, gzip); }));
        out.push_back(written_by([&](const std::string& p) { write_idx(p, values, gzip); }));
        out.push_back(written_by([&](const std::string& p) { write_idx(p, labels, gzip); }));
    }
    return out;
}

}  // namespace adjoint::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace adjoint;
    const fuzz::MemFile file({data, size});
    try {
        const Tensor t = read_idx(file.path());
        const std::size_t most = 4 * (size + 1032 * size);
        fuzz::expect(t.nbytes() <= most, "read_idx returned more bytes than the input can hold");
    } catch (const Error& e) {
        fuzz::expect(std::string_view(e.what()).find(file.path()) != std::string_view::npos,
                     "an IDX error must name the file", e.what());
    }
    return 0;
}
