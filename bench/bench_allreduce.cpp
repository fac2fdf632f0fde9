// All-reduce time against message size, under mpirun (BENCHMARKS.md, "Training on several
// processes"): adjoint's ordered sum (Communicator::allreduce_sum: alltoallv, the sum in
// rank order, allgatherv) beside MPI_Allreduce, which is free to sum in any order, for f32
// messages from 4 KB to 64 MB. Prints, per size, the median of the slowest rank's times and
// the bus bandwidth 2 (p - 1) / p * bytes / time, the figure a ring all-reduce's cost
// model divides by; then the alpha-beta fit t = a + bytes / B of the ordered sum (B from the
// messages of 1 MB and more, a from the smallest).
//   mpirun -np 2 build/bench/bench_allreduce [--max-mb 64] [--repeats 20]
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <adjoint/adjoint.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace ad = adjoint;
namespace po = boost::program_options;

namespace {

// The median over `repeats` of the slowest rank's seconds for f.
template <class F> double median_seconds(int repeats, F&& f) {
    std::vector<double> t;
    for (int i = -2; i < repeats; ++i) {  // two to warm up
        MPI_Barrier(MPI_COMM_WORLD);
        const auto start = std::chrono::steady_clock::now();
        f();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), slowest = 0;
        MPI_Allreduce(&s, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (i >= 0) t.push_back(slowest);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    ad::Mpi mpi(argc, argv);
    const auto comm = mpi.world();
    double max_mb = 64;
    int repeats = 20;
    po::options_description opts("bench_allreduce");
    opts.add_options()("max-mb", po::value(&max_mb)->default_value(max_mb), "largest message, MiB")(
        "repeats", po::value(&repeats)->default_value(repeats), "timed repeats per size");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
    const int p = comm->size();
    const bool lead = comm->rank() == 0;
    if (lead)
        std::printf(
            "ranks %d\n| bytes | ordered sum (ms) | bus GB/s | MPI_Allreduce (ms) | bus GB/s "
            "|\n|---|---|---|---|---|\n",
            p);
    std::vector<double> xs, ys;  // bytes, seconds of the ordered sum: the alpha-beta fit
    std::vector<std::int64_t> sizes;
    for (std::int64_t bytes = 4096; bytes <= static_cast<std::int64_t>(max_mb * 1048576); bytes *= 4)
        sizes.push_back(bytes);
    sizes.push_back(std::int64_t{407050} * 4);  // the MNIST MLP's gradients
    std::sort(sizes.begin(), sizes.end());
    for (const std::int64_t bytes : sizes) {
        const std::size_t n = static_cast<std::size_t>(bytes / 4);
        std::vector<float> a(n, 1.f + static_cast<float>(comm->rank())), b(n);
        const double ours = median_seconds(repeats, [&] { comm->allreduce_sum(std::span<float>(a), "bench"); });
        const double theirs = median_seconds(repeats, [&] {
            MPI_Allreduce(a.data(), b.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        });
        const double bus = 2.0 * (p - 1) / p * static_cast<double>(bytes) / 1e9;
        if (lead)
            std::printf("| %lld | %.3f | %.2f | %.3f | %.2f |\n", static_cast<long long>(bytes), ours * 1e3, bus / ours,
                        theirs * 1e3, bus / theirs);
        xs.push_back(static_cast<double>(bytes));
        ys.push_back(ours);
    }
    // The alpha-beta fit: the bandwidth from the slope over the messages of 1 MB and more
    // (least squares), the latency from the smallest message less its bytes' time.
    double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        if (xs[i] < 1e6) continue;
        sx += xs[i];
        sy += ys[i];
        sxx += xs[i] * xs[i];
        sxy += xs[i] * ys[i];
        ++m;
    }
    const double c = m > 1 ? (m * sxy - sx * sy) / (m * sxx - sx * sx) : ys.back() / xs.back();
    const double a0 = std::max(0.0, ys.front() - c * xs.front());
    if (lead)
        std::printf("fit: t = %.1f us + bytes / (%.2f GB/s); bus bandwidth %.2f GB/s\n", a0 * 1e6, 1e-9 / c,
                    2.0 * (p - 1) / p * 1e-9 / c);
    return 0;
}
