// make_data: the files the driver's hostile-input tests (hostile_cli.sh, kill_save.sh)
// need, made without a network:
//   make_data data DIR TRAIN TEST   a tiny MNIST folder: TRAIN and TEST images of 28 x 28
//                                   with labels (train images and test labels gzip)
//   make_data bomb FILE N           a ~1 MB gzip IDX file of N 28 x 28 images whose stream
//                                   goes on with 1 GiB of zeros
//   make_data check FILE            loads a checkpoint: exit 0, or 1 with the error
//   make_data nan IN OUT            IN with a NaN in its first tensor (valid checksums)
//   make_data drop IN OUT NAME      IN without tensor NAME
//   make_data extra IN OUT          IN with one more tensor, "extra/tensor"
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "reference.hpp"

namespace ad = adjoint;

namespace {

// Images whose class shows in them (a bright square at a place per class), so training
// moves the weights; labels 0-9.
void data(const std::string& dir, std::int64_t train, std::int64_t test) {
    std::filesystem::create_directories(dir);
    std::mt19937_64 rng(1);
    auto make = [&](std::int64_t n, const std::string& images, const std::string& labels, bool gzip_images) {
        ad::Tensor x({n, 28, 28}, ad::DType::u8), y({n}, ad::DType::u8);
        for (std::int64_t i = 0; i < n; ++i) {
            const auto label = static_cast<std::uint8_t>(rng() % 10);
            y.data<std::uint8_t>()[static_cast<std::size_t>(i)] = label;
            std::uint8_t* image = x.data<std::uint8_t>().data() + i * 784;
            for (int p = 0; p < 784; ++p) image[p] = static_cast<std::uint8_t>(rng() % 64);
            for (int r = 0; r < 6; ++r)
                for (int c = 0; c < 6; ++c) image[(2 + r) * 28 + 2 + 2 * label + c] = 255;
        }
        ad::write_idx(dir + "/" + images + (gzip_images ? ".gz" : ""), x, gzip_images);
        ad::write_idx(dir + "/" + labels + (gzip_images ? "" : ".gz"), y, !gzip_images);
    };
    make(train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", true);
    make(test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", false);
}

int run(int argc, char** argv) {
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "data" && argc == 5) {
        data(argv[2], std::stoll(argv[3]), std::stoll(argv[4]));
    } else if (command == "bomb" && argc == 4) {
        const auto n = static_cast<std::uint32_t>(std::stoul(argv[3]));
        const std::string images = ad::hostile::idx_header(0x08, {n, 28, 28}) + std::string(std::size_t{n} * 784, '\1');
        ad::hostile::write_bytes(argv[2], ad::hostile::gzip_bomb(images, 1024, false));
    } else if (command == "check" && argc == 3) {
        const std::vector<ad::NamedTensor> t = ad::load_checkpoint(argv[2]);
        fmt::print("{}: {} tensors\n", argv[2], t.size());
    } else if ((command == "nan" || command == "extra") && argc == 4) {
        std::vector<ad::NamedTensor> t = ad::load_checkpoint(argv[2]);
        if (command == "nan") {
            t.at(0).value = t.at(0).value.clone();
            t.at(0).value.data<float>()[1] = NAN;
        } else {
            t.push_back({"extra/tensor", ad::Tensor::zeros({3})});
        }
        ad::save_checkpoint(argv[3], t, {.allow_non_finite = true});
    } else if (command == "drop" && argc == 5) {
        std::vector<ad::NamedTensor> t = ad::load_checkpoint(argv[2]);
        std::erase_if(t, [&](const ad::NamedTensor& n) { return n.name == argv[4]; });
        ad::save_checkpoint(argv[3], t);
    } else {
        fmt::print(stderr,
                   "usage: make_data data DIR TRAIN TEST | bomb FILE N | check FILE | nan IN OUT | "
                   "drop IN OUT NAME | extra IN OUT\n");
        return 2;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "make_data: {}\n", e.what());
        return 1;
    }
}
