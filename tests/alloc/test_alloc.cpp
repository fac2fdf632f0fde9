// No heap allocation in a steady-state training step. This executable replaces malloc and
// its relatives (which operator new, std::vector, fmt and the library all end in) with
// versions that count calls while `counting` is on, then trains.
//
// Not counted: oneTBB's own task objects. They come from its per-thread small-object
// pool, which recycles them, and that pool is backed by tbbmalloc (loaded by libtbb at
// run time and calling mmap itself), out of reach of an interposed malloc.
#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "../helpers.hpp"

namespace {

std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void count() {
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}

// Allocations made by f().
template <class F> long allocations_in(F&& f) {
    allocations = 0;
    counting = true;
    f();
    counting = false;
    return allocations.load();
}

}  // namespace

// glibc's own implementations, which it exports for exactly this purpose. Their names
// are glibc's (reserved), and the replacements name their parameters as they please.
// NOLINTBEGIN(bugprone-reserved-identifier, readability-inconsistent-declaration-parameter-name)
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
    count();
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
    count();
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
    count();
    return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
    count();
    return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
    count();
    return __libc_memalign(align, n);
}
int posix_memalign(void** p, std::size_t align, std::size_t n) {
    count();
    *p = __libc_memalign(align, n);
    return *p ? 0 : ENOMEM;
}
void free(void* p) { __libc_free(p); }
}
// NOLINTEND(bugprone-reserved-identifier, readability-inconsistent-declaration-parameter-name)

namespace adjoint::test {

namespace {

// n samples of the MNIST network's shapes, random: u8 "images" and one-hot labels.
std::pair<Tensor, Tensor> data(std::int64_t n) {
    const Tensor labels = random_tensor({n}, DType::u8, 0, 10, 2);
    return {random_tensor({n, 784}, DType::u8, 0, 256, 1), to_categorical(labels, 10)};
}

}  // namespace

TEST_CASE("the counter sees allocations, the library's included") {
    std::vector<int> v;
    CHECK(allocations_in([&] { v.resize(1000); }) == 1);
    CHECK(allocations_in([] { (void)Tensor::zeros({64, 64}); }) >= 1);
    Graph g;
    const Expr x = g.placeholder("x", {batch, 4});
    const Expr y = sum(x * 2.f);
    Session sess(g, {.threads = 2});
    const Feeds feeds{{x, Tensor::zeros({8, 4})}};
    sess.run({y}, feeds);
    // The run that returns a fresh vector allocates it (and a copy of the result).
    CHECK(allocations_in([&] { (void)sess.run({y}, feeds); }) >= 2);
}

TEST_CASE("Session::run into reused results allocates nothing once its plan is cached") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 300});
    const Expr w = g.variable("w", Tensor::full({300, 200}, 0.01));
    const Expr h = relu(matmul(x, w));
    const Expr loss = mean(square(h));
    const Expr dw = gradients(loss, {w})[0];
    const Expr update = rmsprop_apply(w, g.variable("a", Tensor::zeros({300, 200})), dw, 1e-3, 0.9, 1e-7);
    Session sess(g, {.threads = 2});
    const std::vector<Expr> fetches{loss, h}, targets{update};
    Feeds feeds{{x, random_tensor({128, 300}, DType::f32, -1, 1, 3)}};
    std::vector<Tensor> out;
    sess.run(fetches, feeds, targets, out);  // compiles the plan, sizes `out`
    const Tensor first_h = out[1].clone();
    for (int i = 0; i < 6; ++i) MESSAGE(allocations_in([&] { sess.run(fetches, feeds, targets, out); }));
    CHECK(allocations_in([&] {
              for (int i = 0; i < 20; ++i) sess.run(fetches, feeds, targets, out);
          }) == 0);
    // The results are still this run's values (the weights moved, so h changed).
    CHECK(out[0].shape() == Shape{});
    CHECK(out[1].shape() == Shape{128, 200});
    CHECK(!bitwise_equal(out[1], first_h));
    // A result someone else holds is not overwritten: it is replaced by a fresh copy.
    const Tensor kept = out[1];
    const Tensor kept_copy = kept.clone();
    sess.run(fetches, feeds, targets, out);
    CHECK(bitwise_equal(kept, kept_copy));
    CHECK(out[1].raw() != kept.raw());
}

TEST_CASE("The movement ops' kernels allocate nothing (allreduce_buckets' concat and slices use them)") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 6}), v = g.placeholder("v", {10});
    const Expr joined = concat({slice(x, {0, 1}, {INT64_MAX, 5}), transpose(x, {0, 1})}, 1);
    const Expr moved = pad(joined, {{0, 0}, {1, 2}}) * 2.f;
    const Expr flat = concat({slice(v, {2}, {8}), v}, 0);
    Session sess(g, {.threads = 2});
    Feeds feeds{{x, random_tensor({64, 6}, DType::f32, -1, 1, 5)}, {v, random_tensor({10}, DType::f32, -1, 1, 6)}};
    std::vector<Tensor> out;
    const std::vector<Expr> fetches{moved, flat}, none;
    sess.run(fetches, feeds, none, out);  // compiles the plan, sizes `out`
    CHECK(allocations_in([&] {
              for (int i = 0; i < 10; ++i) sess.run(fetches, feeds, none, out);
          }) == 0);
}

TEST_CASE("Sequential::fit: the allocations of an epoch do not grow with its steps") {
    Sequential m(SequentialOptions{.seed = 1, .threads = 2});
    m.add(Dense(512, "relu", 784));
    m.add(Dense(10, "softmax"));
    m.compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
    const auto ten_steps = data(10 * 128L), thirty_steps = data(30 * 128L);
    const Tensor &x10 = ten_steps.first, &y10 = ten_steps.second, &x30 = thirty_steps.first, &y30 = thirty_steps.second;
    const FitOptions one{.epochs = 1, .batch_size = 128};
    m.fit(x10, y10, one);  // compiles the step's plan
    const long ten = allocations_in([&] { m.fit(x10, y10, one); });
    const long thirty = allocations_in([&] { m.fit(x30, y30, one); });
    INFO("10 steps: ", ten, " allocations, 30 steps: ", thirty);
    // Per epoch: the shuffle, the batch buffers, the history; per step: nothing.
    CHECK(thirty == ten);
    CHECK(ten < 40);
}

TEST_CASE("Sequential::fit of the convnet: no allocation per step (patches and partial filters in the workspace)") {
    Sequential m(SequentialOptions{.seed = 1, .threads = 2});
    m.add(Conv2D(32, {3, 3}, "relu", Shape{28, 28, 1}));
    m.add(MaxPooling2D({2, 2}));
    m.add(Conv2D(64, {3, 3}, "relu"));
    m.add(MaxPooling2D({2, 2}));
    m.add(Conv2D(64, {3, 3}, "relu"));
    m.add(Flatten());
    m.add(Dense(64, "relu"));
    m.add(Dense(10, "softmax"));
    m.compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
    auto images = [](std::int64_t n) {
        return std::make_pair(random_tensor({n, 28, 28, 1}, DType::u8, 0, 256, 1),
                              to_categorical(random_tensor({n}, DType::u8, 0, 10, 2), 10));
    };
    const auto ten_steps = images(10 * 64L), thirty_steps = images(30 * 64L);
    const FitOptions one{.epochs = 1, .batch_size = 64};
    m.fit(ten_steps.first, ten_steps.second, one);  // compiles the step's plan
    const long ten = allocations_in([&] { m.fit(ten_steps.first, ten_steps.second, one); });
    const long thirty = allocations_in([&] { m.fit(thirty_steps.first, thirty_steps.second, one); });
    INFO("10 steps: ", ten, " allocations, 30 steps: ", thirty);
    CHECK(thirty == ten);
    CHECK(ten < 40);
}

}  // namespace adjoint::test
