// Mpi and its world, on the MPI library. p = ranks, n = elements of a sum.
//
// allreduce_sum fixes the order of every element's sum, which MPI_Allreduce does not
// promise, at the bandwidth cost of a ring all-reduce: the n elements are cut into p
// chunks, chunk j = [n j / p, n (j + 1) / p); rank j gathers every rank's copy of chunk j
// (MPI_Alltoallv), sums them in rank order, and every rank gathers the p summed chunks
// (MPI_Allgatherv). Each rank sends and receives 2 (p - 1) / p of the data, as a ring does.
#include <adjoint/core/error.hpp>
#include <adjoint/distributed/mpi.hpp>

#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include <fmt/format.h>
// The C API only: the C++ bindings, deprecated since MPI 2.2, do not compile warning-free.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

namespace adjoint {

namespace {

void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(fmt::format("{} failed: {}", call, std::string_view(text, static_cast<std::size_t>(len))));
}

template <class T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

// What every rank says before a sum: how many elements, and of what.
struct Header {
    std::int64_t count = 0;
    char what[120] = {};
};

class MpiWorld final : public Communicator {
public:
    MpiWorld() {
        check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");  // our messages never meet the program's
        check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    }
    ~MpiWorld() override {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Comm_free(&comm_);
    }
    MpiWorld(const MpiWorld&) = delete;
    MpiWorld& operator=(const MpiWorld&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::string name() const override { return fmt::format("MPI_COMM_WORLD ({} ranks)", size_); }

    void allreduce_sum(std::span<float> data, std::string_view what) override { sum(data, what); }
    void allreduce_sum(std::span<double> data, std::string_view what) override { sum(data, what); }

    void broadcast(std::span<std::byte> data, int root) override {
        if (root < 0 || root >= size_) throw Error(fmt::format("broadcast: root {} is not a rank of {}", root, size_));
        const std::lock_guard lock(mutex_);
        alive("broadcast");
        for (std::size_t off = 0; off < data.size(); off += INT_MAX) {
            const auto len = static_cast<int>(std::min<std::size_t>(INT_MAX, data.size() - off));
            check(MPI_Bcast(data.data() + off, len, MPI_BYTE, root, comm_), "MPI_Bcast");
        }
    }

    std::vector<std::string> allgather(const std::string& text) override {
        const std::lock_guard lock(mutex_);
        alive("allgather");
        // The lengths first, as 64-bit numbers: every rank then sees every length, and
        // refuses (or not) alike.
        const auto len = static_cast<std::int64_t>(text.size());
        std::vector<std::int64_t> lens(static_cast<std::size_t>(size_));
        check(MPI_Allgather(&len, 1, MPI_INT64_T, lens.data(), 1, MPI_INT64_T, comm_), "MPI_Allgather");
        std::vector<int> counts(lens.size()), displs(lens.size());
        std::int64_t total = 0;
        for (std::size_t r = 0; r < lens.size(); ++r) {
            if (total + lens[r] > INT_MAX)
                throw Error(fmt::format("allgather: the ranks' texts add up to {} bytes or more, above 2^31 - 1",
                                        total + lens[r]));
            counts[r] = static_cast<int>(lens[r]);
            displs[r] = static_cast<int>(total);
            total += lens[r];
        }
        std::string all(static_cast<std::size_t>(total), '\0');
        check(MPI_Allgatherv(text.data(), static_cast<int>(len), MPI_CHAR, all.data(), counts.data(), displs.data(),
                             MPI_CHAR, comm_),
              "MPI_Allgatherv");
        std::vector<std::string> out;
        for (std::size_t r = 0; r < lens.size(); ++r)
            out.push_back(all.substr(static_cast<std::size_t>(displs[r]), static_cast<std::size_t>(counts[r])));
        return out;
    }

private:
    template <class T> void sum(std::span<T> data, std::string_view what) {
        const std::lock_guard lock(mutex_);
        alive(what);
        agree(static_cast<std::int64_t>(data.size()), what);
        if (size_ == 1 || data.empty()) return;
        const auto n = static_cast<std::int64_t>(data.size()), p = static_cast<std::int64_t>(size_);
        // n j / p: n is a tensor's element count (bytes < 2^63 / 8) and p < 2^24, so n p fits.
        auto lo = [&](std::int64_t j) { return n * j / p; };
        const std::int64_t mine = lo(rank_ + 1) - lo(rank_);
        // The same test on every rank (n and p agree): a chunk of ceil(n / p), p times over,
        // must fit MPI's int counts.
        if ((n + p - 1) / p * p > INT_MAX)
            throw Error(
                fmt::format("{}: {} elements over {} ranks need {} per rank's receive, more than MPI's int "
                            "counts hold (2^31 - 1)",
                            what, n, p, (n + p - 1) / p * p));
        counts_.resize(static_cast<std::size_t>(size_));
        displs_.resize(counts_.size());
        mine_counts_.assign(counts_.size(), static_cast<int>(mine));
        mine_displs_.resize(counts_.size());
        for (int j = 0; j < size_; ++j) {
            counts_[static_cast<std::size_t>(j)] = static_cast<int>(lo(j + 1) - lo(j));
            displs_[static_cast<std::size_t>(j)] = static_cast<int>(lo(j));
            mine_displs_[static_cast<std::size_t>(j)] = static_cast<int>(mine * j);
        }
        // Grows once, to the largest sum: a training step allocates nothing here.
        const std::size_t bytes = static_cast<std::size_t>(mine * p) * sizeof(T);
        if (work_.size() < bytes) work_.resize(bytes);
        T* copies = reinterpret_cast<T*>(work_.data());  // p copies of my chunk, by rank
        check(MPI_Alltoallv(data.data(), counts_.data(), displs_.data(), mpi_type<T>(), copies, mine_counts_.data(),
                            mine_displs_.data(), mpi_type<T>(), comm_),
              "MPI_Alltoallv");
        // My chunk's sum in rank order: ((x_0 + x_1) + x_2) + ...
        T* acc = data.data() + lo(rank_);
        for (std::int64_t k = 0; k < mine; ++k) acc[k] = copies[k];
        for (std::int64_t r = 1; r < p; ++r) {
            const T* c = copies + r * mine;
            for (std::int64_t k = 0; k < mine; ++k) acc[k] += c[k];
        }
        check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data.data(), counts_.data(), displs_.data(),
                             mpi_type<T>(), comm_),
              "MPI_Allgatherv");
    }

    // A model that outlives the Mpi object would call MPI after MPI_Finalize.
    static void alive(std::string_view what) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized)
            throw Error(
                fmt::format("{}: MPI is finalized (the Mpi object is gone); make it outlive every model "
                            "that uses its world",
                            what));
    }

    // Every rank must be at the same sum, with as many elements: a rank running another
    // graph, or allreduce nodes in another order, is named here rather than summed into
    // garbage.
    void agree(std::int64_t count, std::string_view what) {
        Header h;
        h.count = count;
        std::memcpy(h.what, what.data(), std::min(what.size(), sizeof h.what - 1));
        headers_.resize(static_cast<std::size_t>(size_));
        check(MPI_Allgather(&h, sizeof h, MPI_BYTE, headers_.data(), sizeof h, MPI_BYTE, comm_), "MPI_Allgather");
        for (int r = 1; r < size_; ++r) {
            const Header& o = headers_[static_cast<std::size_t>(r)];
            if (o.count != headers_[0].count || std::strcmp(o.what, headers_[0].what) != 0)
                throw Error(fmt::format(
                    "{}: the ranks are at different sums: rank 0 sums {} values ({}), rank {} sums {} values ({}); "
                    "they run different models, or allreduce nodes in different orders",
                    name(), headers_[0].count, headers_[0].what, r, o.count, o.what));
        }
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1;
    std::mutex mutex_;  // MPI_THREAD_SERIALIZED: one call at a time, from whichever thread
    std::vector<Header> headers_;
    std::vector<int> counts_, displs_, mine_counts_, mine_displs_;
    std::vector<std::byte> work_;
};

}  // namespace

bool mpi_built() { return true; }

Mpi::Mpi(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) throw Error("Mpi: MPI is already initialised (make one Mpi for the program's life)");
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        throw Error(fmt::format("Mpi: the MPI library gives thread level {}; adjoint needs MPI_THREAD_SERIALIZED ({})",
                                provided, MPI_THREAD_SERIALIZED));
    }
    world_ = std::make_shared<MpiWorld>();
}

Mpi::~Mpi() {
    // Left by an exception: the other ranks may be waiting for this one in a collective,
    // and would wait forever; end the job instead (a rank's failure stops every rank).
    if (std::uncaught_exceptions() > 0) {
        fmt::print(stderr, "adjoint: rank {} of {}: an exception left the scope of Mpi: ending every rank\n",
                   world_->rank(), world_->size());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    world_.reset();  // frees our communicator unless a model still holds it (then MPI_Finalize does)
    MPI_Finalize();
}

void Mpi::abort(const std::string& program, const std::string& message, int code) const {
    fmt::print(stderr, "{}: rank {} of {}: {}\n", program, world_->rank(), world_->size(), message);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, nothing else runs
}

}  // namespace adjoint
