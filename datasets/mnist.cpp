#include <adjoint/datasets/mnist.hpp>

#include <filesystem>

#include <adjoint/datasets/idx.hpp>

namespace adjoint {

namespace {

std::string find_file(const std::string& dir, const std::string& name) {
    namespace fs = std::filesystem;
    for (const std::string& candidate : {name, name + ".gz"}) {
        const fs::path p = fs::path(dir) / candidate;
        // (the overloads without an error_code throw std::filesystem::filesystem_error for
        // a symbolic link loop, say)
        std::error_code ec;
        if (fs::is_regular_file(p, ec)) return p.string();
        if (ec && ec != std::errc::no_such_file_or_directory)
            throw Error(fmt::format("load_mnist: cannot read \"{}\": {}", p.string(), ec.message()));
    }
    throw Error(fmt::format("load_mnist: neither {0} nor {0}.gz is in \"{1}\"", name, dir));
}

Tensor load(const std::string& dir, const std::string& name, std::size_t rank, std::string& path) {
    path = find_file(dir, name);
    Tensor t = read_idx(path);
    if (t.dtype() != DType::u8 || t.shape().rank() != rank)
        throw Error(fmt::format("load_mnist: \"{}\" holds {} {}; expected u8 of rank {}", path, dtype_name(t.dtype()),
                                t.shape(), rank));
    if (t.numel() == 0) throw Error(fmt::format("load_mnist: \"{}\" holds no data: its shape is {}", path, t.shape()));
    return t;
}

void check_pair(const Tensor& images, const std::string& images_path, const Tensor& labels,
                const std::string& labels_path, int classes) {
    if (images.shape()[0] != labels.shape()[0])
        throw Error(fmt::format("load_mnist: \"{}\" has {} images but \"{}\" has {} labels", images_path,
                                images.shape()[0], labels_path, labels.shape()[0]));
    const auto l = labels.data<std::uint8_t>();
    for (std::size_t i = 0; i < l.size(); ++i)
        if (l[i] >= classes)
            throw Error(fmt::format("load_mnist: \"{}\": label {} at index {} is not in 0-{}", labels_path, l[i], i,
                                    classes - 1));
}

}  // namespace

Mnist load_mnist(const std::string& dir, int classes) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        throw Error(fmt::format("load_mnist: \"{}\" is not a directory{}", dir, ec ? ": " + ec.message() : ""));
    Mnist m;
    std::string a, b, c, d;
    m.train_images = load(dir, "train-images-idx3-ubyte", 3, a);
    m.train_labels = load(dir, "train-labels-idx1-ubyte", 1, b);
    m.test_images = load(dir, "t10k-images-idx3-ubyte", 3, c);
    m.test_labels = load(dir, "t10k-labels-idx1-ubyte", 1, d);
    check_pair(m.train_images, a, m.train_labels, b, classes);
    check_pair(m.test_images, c, m.test_labels, d, classes);
    if (m.train_images.shape()[1] != m.test_images.shape()[1] || m.train_images.shape()[2] != m.test_images.shape()[2])
        throw Error(fmt::format("load_mnist: \"{}\" holds images of {} x {} but \"{}\" of {} x {}", a,
                                m.train_images.shape()[1], m.train_images.shape()[2], c, m.test_images.shape()[1],
                                m.test_images.shape()[2]));
    return m;
}

}  // namespace adjoint
