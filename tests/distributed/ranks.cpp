// Run under mpirun by mpi_test.sh: data-parallel training against one process.
//   ranks BATCH BUCKET_BYTES
// trains a small MLP for 20 steps (one epoch of 20 global batches of BATCH samples, the
// last 7 short) on
// every rank with Mpi::world(), and on each rank alone (the reference, the same seed and
// global batches), then checks on every rank:
//   - the distributed weights are the same bits on every rank (their hash, gathered);
//   - they agree with one process's to 2e-5 relative to the largest weight (float sums
//     taken in another order differ by a few ulps per step);
//   - the step losses agree likewise, and evaluate's loss and accuracy too;
//   - warm steps allocate nothing (operator new counted, count_new.cpp).
// Rank 0 prints "weights <hash>", which the script compares across reruns. Exit 1 on a
// failed check, naming it.
#include <adjoint/adjoint.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

namespace ad = adjoint;

long operator_new_calls();  // count_new.cpp

namespace {

// operator new calls from the end of step 3 to the end of the last full batch's step:
// warm steps, whose plan is compiled (the short last batch compiles its own).
class CountNew : public ad::Callback {
public:
    std::optional<std::string> on_batch_end(const ad::BatchLogs& logs) override {
        if (logs.step == 3) start_ = operator_new_calls();
        if (logs.step == logs.batches - 1) during_warm_steps = operator_new_calls() - start_;
        return std::nullopt;
    }
    long during_warm_steps = -1;

private:
    long start_ = 0;
};

constexpr std::int64_t steps = 20, features = 24, classes = 4;

// Deterministic samples whose class depends on them: a learnable toy.
std::pair<ad::Tensor, ad::Tensor> data(std::int64_t n) {
    ad::Tensor x({n, features}, ad::DType::f32), y = ad::Tensor::zeros({n, classes}, ad::DType::f32);
    std::uint64_t s = 12345;
    for (std::int64_t i = 0; i < n; ++i) {
        float row = 0;
        for (std::int64_t j = 0; j < features; ++j) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            const float v = static_cast<float>(s >> 40) / static_cast<float>(1 << 24) - 0.5f;
            x.data<float>()[static_cast<std::size_t>(i * features + j)] = v;
            row += v * static_cast<float>(j % classes + 1);
        }
        const auto label = static_cast<std::int64_t>(std::fabs(row) * 3) % classes;
        y.data<float>()[static_cast<std::size_t>(i * classes + label)] = 1;
    }
    return {x, y};
}

ad::Sequential model(std::shared_ptr<ad::Communicator> comm, std::int64_t bucket_bytes) {
    ad::Sequential m({.seed = 3, .threads = 1, .distributed = std::move(comm), .bucket_bytes = bucket_bytes});
    m.add(ad::Dense(64, "relu", features));
    m.add(ad::Dense(32, "relu"));
    m.add(ad::Dense(classes, "softmax"));
    m.compile(ad::RMSprop(0.01), "categorical_crossentropy", {"accuracy"});
    return m;
}

// FNV-1a over every weight's bytes.
std::uint64_t weights_hash(ad::Sequential& m) {
    std::uint64_t h = 1469598103934665603ULL;
    for (const ad::Expr& w : m.weights()) {
        const ad::Tensor v = m.session().value(w);
        const auto* p = static_cast<const unsigned char*>(v.raw());
        for (std::size_t i = 0; i < v.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h;
}

// max |a - b| over the weights, and max |b|.
std::pair<double, double> weights_diff(ad::Sequential& a, ad::Sequential& b) {
    double diff = 0, scale = 0;
    const auto wa = a.weights(), wb = b.weights();
    for (std::size_t k = 0; k < wa.size(); ++k) {
        const ad::Tensor va = a.session().value(wa[k]), vb = b.session().value(wb[k]);
        for (std::int64_t i = 0; i < va.numel(); ++i) {
            diff = std::max(diff, std::fabs(va.as_double(i) - vb.as_double(i)));
            scale = std::max(scale, std::fabs(vb.as_double(i)));
        }
    }
    return {diff, scale};
}

}  // namespace

int main(int argc, char** argv) {
    ad::Mpi mpi(argc, argv);
    const auto comm = mpi.world();
    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
        if (ok) return;
        std::fprintf(stderr, "ranks: rank %d of %d: FAILED: %s\n", comm->rank(), comm->size(), what.c_str());
        ++failures;
    };
    try {
        if (argc != 3) throw ad::Error("usage: ranks BATCH BUCKET_BYTES");
        const std::int64_t batch = std::stoll(argv[1]), bucket_bytes = std::stoll(argv[2]);
        // 20 global batches, the last one short (batch - 7 samples): its gradient divides by
        // its own count.
        const auto [x, y] = data(batch * steps - 7);
        ad::Sequential dist = model(comm, bucket_bytes), alone = model(nullptr, 0);
        CountNew counter;
        const ad::History hd = dist.fit(x, y, {.epochs = 1, .batch_size = batch, .callbacks = {&counter}});
        check(counter.during_warm_steps == 0,
              fmt::format("steps 4 to {} allocated {} times", steps - 1, counter.during_warm_steps));
        const ad::History ha = alone.fit(x, y, {.epochs = 1, .batch_size = batch});
        // The same bits on every rank.
        const std::string hash = fmt::format("{:016x}", weights_hash(dist));
        const std::vector<std::string> hashes = comm->allgather(hash);
        for (std::size_t r = 0; r < hashes.size(); ++r)
            check(hashes[r] == hash,
                  fmt::format("rank {}'s weights hash {} differs from this rank's {}", r, hashes[r], hash));
        // One process's weights, to reassociation.
        const auto [diff, scale] = weights_diff(dist, alone);
        check(diff <= 2e-5 * scale,
              fmt::format("the weights differ from one process's by {} (largest weight {})", diff, scale));
        // With more than one rank, the sums did run in another order: not the same bits.
        if (comm->size() > 1) check(diff > 0, "the weights equal one process's to the bit: was anything summed?");
        const double dl = std::fabs(hd.epochs[0].loss - ha.epochs[0].loss);
        check(dl <= 1e-5 * std::fabs(ha.epochs[0].loss),
              fmt::format("epoch loss {} against one process's {}", hd.epochs[0].loss, ha.epochs[0].loss));
        check(hd.epochs[0].samples == ha.epochs[0].samples, "the epoch's sample count differs");
        const ad::Evaluation ed = dist.evaluate(x, y, 50), ea = alone.evaluate(x, y, 50);
        check(std::fabs(ed.loss - ea.loss) <= 1e-5 * std::fabs(ea.loss) && ed.accuracy == ea.accuracy,
              fmt::format("evaluate gives loss {} accuracy {}; one process {} {}", ed.loss, ed.accuracy, ea.loss,
                          ea.accuracy));
        if (comm->rank() == 0)
            std::printf(
                "ranks %d batch %lld: weights %s, max difference from one process %.3g (largest weight %.3g), "
                "loss %.6f, accuracy %.4f\n",
                comm->size(), static_cast<long long>(batch), hash.c_str(), diff, scale, hd.epochs[0].loss, ed.accuracy);
    } catch (const std::exception& e) {
        mpi.abort("ranks", e.what());
    }
    return failures ? 1 : 0;
}
