// The single-process communicator, and the agreement check every communicator shares.
#include <adjoint/core/communicator.hpp>
#include <adjoint/core/error.hpp>

#include <fmt/format.h>

namespace adjoint {

namespace {

class SingleProcess final : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    std::string name() const override { return "single process"; }
    void allreduce_sum(std::span<float>, std::string_view) override {}
    void allreduce_sum(std::span<double>, std::string_view) override {}
    void broadcast(std::span<std::byte>, int root) override {
        if (root != 0) throw Error(fmt::format("broadcast: root {} is not a rank of a single process", root));
    }
    std::vector<std::string> allgather(const std::string& text) override { return {text}; }
};

// The first line where a and b differ, and its number (from 1), for an error message.
struct LineDiff {
    std::size_t number = 0;
    std::string a, b;
};
LineDiff first_difference(const std::string& a, const std::string& b) {
    std::size_t pa = 0, pb = 0, number = 1;
    while (true) {
        const std::size_t ea = std::min(a.find('\n', pa), a.size()), eb = std::min(b.find('\n', pb), b.size());
        const std::string la = a.substr(pa, ea - pa), lb = b.substr(pb, eb - pb);
        if (la != lb || ea == a.size() || eb == b.size()) {
            auto cut = [](const std::string& s) { return s.size() <= 200 ? s : s.substr(0, 200) + "..."; };
            return {number, cut(la), cut(lb)};
        }
        pa = ea + 1;
        pb = eb + 1;
        ++number;
    }
}

}  // namespace

std::shared_ptr<Communicator> single_process() { return std::make_shared<SingleProcess>(); }

void expect_same_on_every_rank(Communicator& comm, std::string_view what, const std::string& text) {
    const std::vector<std::string> all = comm.allgather(text);
    for (std::size_t r = 1; r < all.size(); ++r)
        if (all[r] != all[0]) {
            const LineDiff d = first_difference(all[r], all[0]);
            throw Error(
                fmt::format("{}: the ranks disagree on {}: at line {}, rank {} has\n  {}\nwhere rank 0 has\n  {}",
                            comm.name(), what, d.number, r, d.a, d.b));
        }
}

}  // namespace adjoint
