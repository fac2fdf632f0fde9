// Sessions used from many threads at once, and real parallelism past the core count:
// what ThreadSanitizer checks (scripts/sanitize), and what must hold in any build.

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "../helpers.hpp"

namespace adjoint::test {

namespace {

// A small two-layer network with an SGD step: forward, gradients and assigns.
struct Net {
    Graph g;
    Expr x = g.placeholder("x", {batch, 32});
    Expr y = g.placeholder("y", {batch, 4});
    Expr w1 = g.variable("w1", {32, 64}, init::glorot_uniform(1));
    Expr b1 = g.variable("b1", {64}, init::zeros());
    Expr w2 = g.variable("w2", {64, 4}, init::glorot_uniform(2));
    Expr logits = matmul(relu(matmul(x, w1) + b1), w2);
    Expr loss = mean(softmax_cross_entropy(logits, y));
    std::vector<Expr> step;
    Net() {
        const std::vector<Expr> params{w1, b1, w2};
        const std::vector<Expr> grads = gradients(loss, params);
        for (std::size_t i = 0; i < params.size(); ++i) step.push_back(assign(params[i], params[i] - 0.1f * grads[i]));
    }
    Feeds batch_feeds(std::uint64_t seed) const {
        return {{x, random_tensor({16, 32}, DType::f32, -1, 1, seed)},
                {y, to_categorical(random_tensor({16}, DType::u8, 0, 4, seed + 1), 4)}};
    }
};

}  // namespace

TEST_CASE("Concurrency: 4 threads x 200 runs on one Session give what one thread gives") {
    Net net;
    // What each (thread, run) must see: the logits of a fixed feed under fixed weights.
    constexpr int threads = 4, runs = 200;
    Session reference(net.g, {.threads = 1});
    std::vector<Tensor> expected;
    expected.reserve(threads);
    for (int t = 0; t < threads; ++t) expected.push_back(reference.run({net.logits}, net.batch_feeds(100 + 2 * t))[0]);

    Session sess(net.g, {.threads = 2});
    const Expr counter = net.g.variable("counter", Tensor::from({0.f}));
    const Expr count = assign(counter, counter + 1.f);
    std::atomic<int> mismatches{0}, errors{0};
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const Feeds feeds = net.batch_feeds(100 + 2 * t);
            std::vector<Tensor> out;
            for (int r = 0; r < runs; ++r) {
                try {
                    // Each run reads the weights and bumps the counter; every fourth also
                    // reads a variable and writes it back unchanged.
                    sess.run({net.logits}, feeds, {count}, out);
                    if (!bitwise_equal(out[0], expected[static_cast<std::size_t>(t)])) ++mismatches;
                    if (r % 4 == t) sess.set_value(net.b1, sess.value(net.b1));
                } catch (const std::exception&) {
                    ++errors;
                }
            }
        });
    }
    for (auto& th : pool) th.join();
    CHECK(errors == 0);
    CHECK(mismatches == 0);
    CHECK(values(sess.value(counter)) == std::vector<double>{threads * runs});  // no run was lost
}

TEST_CASE("Concurrency: two sessions on one graph train independently, bit for bit alike") {
    Net net;
    auto train = [&](Session& s) {
        for (int i = 0; i < 100; ++i) s.run({}, net.batch_feeds(10 * static_cast<std::uint64_t>(i)), net.step);
    };
    Session alone(net.g);
    train(alone);
    Session a(net.g, {.threads = 2}), b(net.g, {.threads = 1});
    std::thread ta([&] { train(a); }), tb([&] { train(b); });
    ta.join();
    tb.join();
    for (const Expr& w : {net.w1, net.b1, net.w2}) {
        CAPTURE(w.name());
        CHECK(bitwise_equal(a.value(w), alone.value(w)));
        CHECK(bitwise_equal(b.value(w), alone.value(w)));
    }
    // Each session holds its own variables: training one did not move the other's.
    Session fresh(net.g);
    CHECK(!bitwise_equal(fresh.value(net.w1), alone.value(net.w1)));
}

// What the 4-thread tests above rest on, on a machine of any core count: the Session takes
// its thread cap from tbb::global_control, and TBB then runs a 4-slot arena (a Session's
// arena is one) on 4 threads at once. (The arena here is the test's own: a Session does not
// show which threads ran its steps.)
TEST_CASE("Concurrency: a tbb::global_control raises a Session's thread cap, and TBB runs 4 threads at once") {
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    Net net;
    CHECK(Session(net.g, {.threads = 4}).threads() == 4);
    CHECK(Session(net.g, {.threads = 9}).threads() == 4);
    // TBB then really runs 4 threads at once in a 4-slot arena (as the Session's is): four
    // tasks that each wait for all four to arrive finish only if they run side by side.
    tbb::task_arena arena(4);
    std::atomic<int> arrived{0};
    std::set<std::thread::id> ids;
    std::mutex ids_mutex;
    arena.execute([&] {
        tbb::parallel_for(
            0, 4,
            [&](int) {
                {
                    std::lock_guard lock(ids_mutex);
                    ids.insert(std::this_thread::get_id());
                }
                ++arrived;
                const auto t0 = std::chrono::steady_clock::now();
                while (arrived < 4 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20))
                    std::this_thread::yield();
            },
            tbb::simple_partitioner{});
    });
    CHECK(arrived == 4);
    CHECK(ids.size() == 4);
}

// Session::on_threads runs its function in the session's arena: TBB loops there see the
// session's thread count, and the caller's own arena after it returns. (fit gathers each
// batch so, with the workers of the step's kernels.)
TEST_CASE("Concurrency: on_threads runs on the session's threads") {
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    Net net;
    for (int threads : {1, 3}) {
        CAPTURE(threads);
        Session sess(net.g, {.threads = threads});
        int seen = 0;
        sess.on_threads([&] { seen = tbb::this_task_arena::max_concurrency(); });
        CHECK(seen == threads);
    }
    // A const callable runs too.
    Session one(net.g, {.threads = 1});
    int calls = 0;
    const auto count = [&calls] { ++calls; };
    one.on_threads(count);
    CHECK(calls == 1);
    // An exception in the function reaches the caller.
    Session sess(net.g, {.threads = 2});
    CHECK_THROWS_WITH_AS(sess.on_threads([] { throw Error("from inside"); }), "from inside", Error);
}

}  // namespace adjoint::test
