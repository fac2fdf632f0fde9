// Shuffles, one-hot labels and batches.
#include <algorithm>

#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("shuffled_indices: a seeded permutation") {
    const auto a = shuffled_indices(1000, 7), b = shuffled_indices(1000, 7), c = shuffled_indices(1000, 8);
    CHECK(a == b);
    CHECK(a != c);
    auto sorted = a;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < 1000; ++i) CHECK(sorted[static_cast<std::size_t>(i)] == i);
    // Not the identity, and the first element is spread out.
    CHECK(std::count_if(a.begin(), a.end(), [i = 0](std::int64_t v) mutable { return v == i++; }) < 20);
    CHECK(shuffled_indices(0, 1).empty());
}

TEST_CASE("to_categorical: one-hot rows") {
    const Tensor t = to_categorical(Tensor::from<std::uint8_t>({2, 0}), 3);
    CHECK(t.shape() == Shape{2, 3});
    CHECK(values(t) == std::vector<double>{0, 0, 1, 1, 0, 0});
    CHECK_ERROR(to_categorical(Tensor::from<std::uint8_t>({3}), 3), "label 3 at index 0 is not in 0-2");
    CHECK_ERROR(to_categorical(Tensor::zeros({2, 2}), 3), "labels must be 1-D");
}

TEST_CASE("Batches: 60,000 / 128 = 468 full batches and one of 96, scaled to [0, 1]") {
    Tensor images({60000, 784}, DType::u8);
    for (std::int64_t i = 0; i < 60000; ++i)
        for (std::int64_t k = 0; k < 784; ++k)
            images.data<std::uint8_t>()[i * 784 + k] = static_cast<std::uint8_t>(i % 256);
    Tensor labels({60000}, DType::i32);
    for (std::int64_t i = 0; i < 60000; ++i) labels.data<std::int32_t>()[i] = static_cast<std::int32_t>(i);
    Batches b(images, labels, 128);
    CHECK(b.batch_count() == 469);
    const auto order = shuffled_indices(60000, 3);
    std::vector<char> seen(60000, 0);
    for (std::int64_t k = 0; k < b.batch_count(); ++k) {
        auto [x, y] = b.get(k, order);
        CHECK(x.shape()[0] == (k < 468 ? 128 : 96));
        CHECK(x.dtype() == DType::f32);
        for (std::int64_t r = 0; r < y.numel(); ++r) {
            const std::int32_t i = y.data<std::int32_t>()[r];
            CHECK(i == order[static_cast<std::size_t>(k * 128 + r)]);
            seen[static_cast<std::size_t>(i)] = 1;
            // the image row travels with its label, divided by 255
            CHECK(x.data<float>()[r * 784 + 5] == static_cast<float>(i % 256) / 255.f);
        }
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](char c) { return c == 1; }));
    CHECK_ERROR(Batches(images, labels, 0), "batch size is 0");
    CHECK_ERROR(Batches(images, Tensor::zeros({5}), 10), "same number of rows");
    CHECK_ERROR(b.get(469), "batch 469 of 469");
    auto bad = order;
    bad[130] = 60000;
    CHECK_ERROR(b.get(1, bad), "order[130] is 60000, not a sample of [0, 60000)");
    bad[130] = -1;
    CHECK_ERROR(b.get(1, bad), "order[130] is -1");
    CHECK_ERROR(b.get(0, std::vector<std::int64_t>(5, 0)), "an order of 5 indices for 60000 samples");
}

}  // namespace adjoint::test
