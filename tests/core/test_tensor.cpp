// Shape and Tensor: construction, checks, formatting.
#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("Shape: dims, batch, numpy broadcasting") {
    const Shape s{batch, 3};
    CHECK(s.rank() == 2);
    CHECK(s.has_batch());
    CHECK(s.resolve(128) == Shape{128, 3});
    CHECK(to_string(s) == "(batch, 3)");
    CHECK(to_string(Shape{5}) == "(5,)");
    CHECK(to_string(Shape{}) == "()");
    std::vector<std::int64_t> dims(s.begin(), s.end());
    CHECK(dims == std::vector<std::int64_t>{batch, 3});
    CHECK(broadcast_shapes({batch, 3}, {3}) == Shape{batch, 3});
    CHECK(broadcast_shapes({4, 1, 5}, {3, 1}) == Shape{4, 3, 5});
    CHECK(broadcast_shapes({batch, 1}, {1, 7}) == Shape{batch, 7});
    CHECK_THROWS_WITH_AS(broadcast_shapes({2, 3}, {4}), "shapes (2, 3) and (4,) do not broadcast: dim 1 is 3 vs 4",
                         std::invalid_argument);
    CHECK_THROWS_AS(broadcast_shapes({batch, 3}, {5, 3}), std::invalid_argument);
    CHECK(Shape({3, batch}).resolve(5) == Shape{3, 5});  // transposes move the batch dim
    CHECK_ERROR(Shape({2, -3}), "dim 1 is -3");
    CHECK_ERROR(Shape({batch, 2}).numel(), "(batch, 2)", "known batch size");
}

TEST_CASE("Tensor: from, zeros, full, typed access, 64-byte alignment") {
    const Tensor a = Tensor::from({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}});
    CHECK(a.shape() == Shape{3, 2});
    CHECK(a.dtype() == DType::f32);
    CHECK(reinterpret_cast<std::uintptr_t>(a.raw()) % 64 == 0);
    CHECK(a.data<float>()[3] == 4.f);
    CHECK(Tensor::from({1.0, 2.0}).dtype() == DType::f64);
    CHECK(Tensor::from<std::int32_t>({1, 2}).dtype() == DType::i32);
    CHECK(Tensor::from<std::uint8_t>({{{1, 2}}, {{3, 4}}}).shape() == Shape{2, 1, 2});
    CHECK(values(Tensor::zeros({2, 2}, DType::i32)) == std::vector<double>{0, 0, 0, 0});
    CHECK(values(Tensor::full({3}, 2.5, DType::f64)) == std::vector<double>{2.5, 2.5, 2.5});
    CHECK(Tensor::scalar(7.f).item<float>() == 7.f);
    // An integer tensor holds no NaN, infinity or out-of-range value (converting one is
    // undefined behaviour): refused, naming the value and the dtype.
    CHECK(values(Tensor::full({2}, -3.5, DType::i32)) == std::vector<double>{-3, -3});
    CHECK(values(Tensor::full({1}, 255, DType::u8)) == std::vector<double>{255});
    CHECK_ERROR(Tensor::full({2}, NAN, DType::i32), "Tensor::full: nan is not a value of dtype i32");
    CHECK_ERROR(Tensor::full({2}, 1e30, DType::i32), "1e+30 is not a value of dtype i32", "-2147483648 to 2147483647");
    CHECK_ERROR(Tensor::full({2}, 256, DType::u8), "256 is not a value of dtype u8 (from 0 to 255)");
    CHECK_ERROR(Tensor::full({2}, -1, DType::u8), "-1 is not a value of dtype u8");
    {
        Graph g;
        const Expr labels = g.placeholder("labels", {batch}, DType::i32);
        CHECK_ERROR(NAN - labels, "the scalar operand at", "test_tensor.cpp", "does not fit \"labels\"", "nan");
        CHECK_ERROR(labels * INFINITY, "does not fit \"labels\"", "inf is not a value of dtype i32");
    }
    CHECK_ERROR(a.data<double>(), "Tensor::data<f64>", "dtype is f32");
    CHECK_ERROR(a.item<float>(), "shape (3, 2)", "not one element");
    // An empty tensor refuses every read instead of reading nothing.
    CHECK(Tensor().empty());
    CHECK_ERROR(Tensor().item<float>(), "the tensor is empty");
    CHECK_ERROR(Tensor().data<float>(), "the tensor is empty");
    CHECK_ERROR(Tensor().as_double(0), "the tensor is empty");
    CHECK_ERROR(Tensor::from({{1.f, 2.f}, {3.f}}), "ragged rows");
    CHECK_ERROR(Tensor::from<float>(std::vector<float>{1, 2, 3}, Shape{2, 2}), "3 values for shape (2, 2)");
    CHECK_ERROR(Tensor({1000000, 1000000, 1000}, DType::f64), "out of memory allocating",
                "f64 (1000000, 1000000, 1000)");
    // Element and byte counts are checked: an overflow is an error naming the shape, never
    // a small allocation that the kernels then overrun.
    CHECK_ERROR(Tensor(Shape{1LL << 40, 1LL << 40}, DType::f32), "Shape (1099511627776, 1099511627776)",
                "element count overflows");
    CHECK_ERROR(Tensor(Shape{1LL << 61, 2}, DType::f32), "f32 (2305843009213693952, 2)", "byte count overflows");
    CHECK_ERROR(Tensor(Shape{1LL << 60, 4}, DType::u8), "out of memory");
    CHECK(byte_size(Shape{3, 5}, DType::f64) == 120);
    // Copies share storage; clone does not.
    Tensor b = a;
    Tensor c = a.clone();
    b.data<float>()[0] = 42;
    CHECK(a.data<float>()[0] == 42);
    CHECK(c.data<float>()[0] == 1);
}

TEST_CASE("Tensor: fmt formatting like numpy") {
    CHECK(fmt::format("{}", Tensor::from({{0.f, 0.f}, {3.5f, 3.5f}})) == "[[0, 0], [3.5, 3.5]]");
    CHECK(fmt::format("{}", Tensor::scalar(7.f)) == "7");
    CHECK(fmt::format("{}", Tensor::from<std::uint8_t>({1, 255})) == "[1, 255]");
    CHECK(fmt::format("{}", Tensor::from<std::int32_t>({-1, 2})) == "[-1, 2]");
    const std::string big = fmt::format("{}", Tensor::zeros({2000}));
    CHECK(big == "[0, 0, 0, ..., 0, 0, 0]");
}

}  // namespace adjoint::test
