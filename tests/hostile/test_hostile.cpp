// The hostile-input suite, at the API: thousands of corrupted IDX files and checkpoints
// made from small valid ones (write_idx, save_checkpoint, Sequential::save_weights) —
// truncations at every offset, bit flips, forged lengths, types, ranks and dims, gzip
// bombs, special files — each read in a forked child under a 3 GB address-space limit
// (sandbox.hpp). Every case asserts: a valid file loads what it holds (the suite's own
// decoders say what that is, reference.hpp); any other is an adjoint::Error, never another
// exception or a crash or a hang, whose message names the file (and the tensor at fault);
// the input is unchanged; a model whose load failed keeps its weights bit for bit. The
// worst peak RSS of any case must stay below 512 MB: the inputs are a few KB to 1 MB (a
// reader may allocate what a file's size can justify, as a gzip file declaring 1032 times
// its size, but touches only what the file holds).
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <random>

#include "../helpers.hpp"
#include "reference.hpp"
#include "sandbox.hpp"

namespace adjoint::test {

namespace {

namespace fs = std::filesystem;
using hostile::Bytes;
using hostile::Case;
using hostile::Result;

// The bound on any case's peak RSS. Under ASan, its shadow memory and the quarantine of
// freed blocks (256 MB) count too; there max_allocation_size_mb bounds allocations.
const long max_peak_kb = (hostile::sanitized() ? 1536L : 512L) * 1024;

// ---------------------------------------------------------------------------------------
// Expectations

// Runs `load`, which must throw an adjoint::Error whose message contains every one of
// `parts`. "" if so, else what happened.
std::string refused(const std::function<void()>& load, const std::vector<std::string>& parts) {
    try {
        load();
        return "no error was thrown";
    } catch (const Error& e) {
        const std::string message = e.what();
        for (const std::string& part : parts)
            if (message.find(part) == std::string::npos)
                return fmt::format("the message does not name \"{}\": {}", part, message);
        return "";
    } catch (const std::exception& e) {
        return fmt::format("threw {} instead of an adjoint::Error: {}", typeid(e).name(), e.what());
    } catch (...) {
        return "threw something that is not a std::exception";
    }
}

// Writes the case's bytes, runs `check`, and fails it if the file changed meanwhile.
Result on_file(const std::string& path, const Bytes& bytes, const std::function<Result()>& check) {
    hostile::write_bytes(path, bytes);
    Result r = check();
    if (r.failure.empty() && hostile::read_bytes(path) != bytes) r.failure = "reading it changed the file";
    return r;
}

// read_idx gives what the file holds, or refuses it naming the file.
Result check_idx(const std::string& path) {
    const std::optional<Tensor> expected = hostile::expected_idx(path);
    if (!expected) return {refused([&] { (void)read_idx(path); }, {"\"" + path + "\""}), false};
    try {
        const Tensor t = read_idx(path);
        return {bitwise_equal(t, *expected) ? "" : "it loaded other values than the file holds", true};
    } catch (const std::exception& e) {
        return {fmt::format("it refused a valid file: {}", e.what()), false};
    }
}

Case idx_case(std::string category, std::string label, std::function<Bytes()> make) {
    return {std::move(category), std::move(label), [make = std::move(make)](const std::string& path) {
                return on_file(path, make(), [&] { return check_idx(path); });
            }};
}

// The model every checkpoint case loads into: built in the child, on first use (TBB, which
// the session uses, must not start before a fork), with its weights as built.
std::unique_ptr<Sequential> toy_model(std::uint64_t seed) {
    auto m = std::make_unique<Sequential>(SequentialOptions{.seed = seed, .threads = 1});
    m->add(Dense(16, "relu", 20));
    m->add(Dense(3, "softmax"));
    m->compile(RMSprop(), "categorical_crossentropy");
    return m;
}

struct Toy {
    std::unique_ptr<Sequential> model = toy_model(7);
    std::vector<Expr> weights = model->trainable_weights();
    std::vector<Expr> state = model->optimizer_weights();  // optional in a file
    std::vector<Tensor> original, original_state;
    Toy() {
        for (const Expr& w : weights) original.push_back(model->session().value(w));
        for (const Expr& v : state) original_state.push_back(model->session().value(v));
    }
};

Toy& toy() {
    static Toy t;  // per child; never destroyed there (children _exit)
    return t;
}

// "" if the toy model still has the weights it was built with.
std::string weights_unchanged() {
    Toy& t = toy();
    for (std::size_t i = 0; i < t.weights.size(); ++i)
        if (!bitwise_equal(t.model->session().value(t.weights[i]), t.original[i]))
            return fmt::format("the failed load changed the model's \"{}\"", t.weights[i].name());
    for (std::size_t i = 0; i < t.state.size(); ++i)
        if (!bitwise_equal(t.model->session().value(t.state[i]), t.original_state[i]))
            return fmt::format("the failed load changed the optimizer's \"{}\"", t.state[i].name());
    return "";
}

// load_checkpoint gives the file's tensors or refuses it, naming the file and the tensor
// at fault; then load_weights into the toy model loads them if they are exactly its
// weights (by name, dtype and shape) and any of the optimizer's state variables (which
// must fit too), else refuses naming the file and the first tensor it lacks or that does
// not fit, and leaves every weight and state as it was.
Result check_checkpoint(const std::string& path, const Bytes& bytes, const CheckpointOptions& options = {}) {
    const hostile::Verdict v = hostile::decode_checkpoint(bytes, options.allow_non_finite);
    Result r;
    auto fail = [&](const std::string& what) {
        if (r.failure.empty()) r.failure = what;
    };
    const std::string quoted_path = "\"" + path + "\"";
    if (!v.valid) {
        std::vector<std::string> parts{quoted_path};
        if (!v.tensor.empty()) parts.push_back("\"" + hostile::printable(v.tensor) + "\"");
        if (const std::string f = refused([&] { (void)load_checkpoint(path, options); }, parts); !f.empty())
            fail(fmt::format("load_checkpoint (the file: {}): {}", v.why, f));
    } else {
        try {
            const std::vector<NamedTensor> got = load_checkpoint(path, options);
            r.loaded = true;
            bool same = got.size() == v.tensors.size();
            for (std::size_t i = 0; same && i < got.size(); ++i)
                same = got[i].name == v.tensors[i].name && bitwise_equal(got[i].value, v.tensors[i].value);
            if (!same) fail("load_checkpoint loaded other tensors than the file holds");
        } catch (const std::exception& e) {
            fail(fmt::format("load_checkpoint refused a valid file: {}", e.what()));
        }
    }

    // What load_weights must do: the tensor to name, or "" when it must load.
    Toy& t = toy();
    std::string fault;
    bool fits = v.valid;
    if (v.valid) {
        for (const Expr& w : t.weights) {
            const auto it = std::find_if(v.tensors.begin(), v.tensors.end(),
                                         [&](const NamedTensor& n) { return n.name == w.name(); });
            if (it == v.tensors.end() || it->value.dtype() != w.dtype() || it->value.shape() != w.shape()) {
                fault = w.name();
                fits = false;
                break;
            }
        }
        // The optimizer's state ("optimizer/<variable>"): each present one fits, and all
        // or none are there; other "optimizer/" tensors are left aside.
        std::size_t present = 0;
        if (fits)
            for (const Expr& w : t.state) {
                const auto it = std::find_if(v.tensors.begin(), v.tensors.end(),
                                             [&](const NamedTensor& n) { return n.name == "optimizer/" + w.name(); });
                present += it != v.tensors.end();
                if (it != v.tensors.end() && (it->value.dtype() != w.dtype() || it->value.shape() != w.shape())) {
                    fault = it->name;
                    fits = false;
                    break;
                }
            }
        if (fits && present > 0 && present < t.state.size())
            for (const Expr& w : t.state)
                if (std::none_of(v.tensors.begin(), v.tensors.end(),
                                 [&](const NamedTensor& n) { return n.name == "optimizer/" + w.name(); })) {
                    fault = "optimizer/" + w.name();
                    fits = false;
                    break;
                }
        auto known = [&](const std::string& name) {
            return name.starts_with("optimizer/") ||
                   std::any_of(t.weights.begin(), t.weights.end(), [&](const Expr& w) { return w.name() == name; });
        };
        if (fits)
            for (const NamedTensor& n : v.tensors)
                if (!known(n.name)) {
                    fault = n.name;
                    fits = false;
                    break;
                }
    } else {
        fault = v.tensor;
    }
    if (!fits) {
        std::vector<std::string> parts{quoted_path};
        if (!fault.empty()) parts.push_back("\"" + hostile::printable(fault) + "\"");
        if (const std::string f = refused([&] { t.model->load_weights(path, options); }, parts); !f.empty())
            fail("load_weights: " + f);
        if (const std::string f = weights_unchanged(); !f.empty()) fail(f);
    } else {
        try {
            t.model->load_weights(path, options);
            for (std::size_t i = 0; i < t.weights.size(); ++i) {
                const auto it = std::find_if(v.tensors.begin(), v.tensors.end(),
                                             [&](const NamedTensor& n) { return n.name == t.weights[i].name(); });
                if (!bitwise_equal(t.model->session().value(t.weights[i]), it->value))
                    fail(fmt::format("load_weights set \"{}\" to other values than the file's", it->name));
                t.model->session().set_value(t.weights[i], t.original[i]);  // as built, for the next case
            }
            for (std::size_t i = 0; i < t.state.size(); ++i) {
                const auto it = std::find_if(v.tensors.begin(), v.tensors.end(), [&](const NamedTensor& n) {
                    return n.name == "optimizer/" + t.state[i].name();
                });
                const Tensor& want = it == v.tensors.end() ? t.original_state[i] : it->value;  // absent: unchanged
                if (!bitwise_equal(t.model->session().value(t.state[i]), want))
                    fail(fmt::format("load_weights set \"{}\" to other values than the file's", t.state[i].name()));
                t.model->session().set_value(t.state[i], t.original_state[i]);
            }
        } catch (const std::exception& e) {
            fail(fmt::format("load_weights refused a file of exactly the model's weights: {}", e.what()));
        }
    }
    return r;
}

Case checkpoint_case(std::string category, std::string label, std::function<Bytes()> make,
                     CheckpointOptions options = {}) {
    return {std::move(category), std::move(label), [make = std::move(make), options](const std::string& path) {
                const Bytes bytes = make();
                return on_file(path, bytes, [&] { return check_checkpoint(path, bytes, options); });
            }};
}

// ---------------------------------------------------------------------------------------
// Running cases

// Runs the cases and adds them to the tally; each failure fails the test (the first 40 of
// a run are shown).
void run(hostile::Tally& tally, const std::vector<Case>& cases, const std::string& dir,
         const hostile::SandboxOptions& options = {}) {
    const std::vector<hostile::Outcome> outcomes = hostile::run_sandboxed(cases, dir, options);
    const std::size_t before = tally.failures().size();
    tally.add(cases, outcomes);
    for (std::size_t i = before; i < tally.failures().size() && i < before + 40; ++i) FAIL_CHECK(tally.failures()[i]);
}

// Cases per category, the worst peak RSS and the case that reached it; the memory bound.
void report(const char* what, const hostile::Tally& tally) {
    MESSAGE(fmt::format("{}:\n{}", what, tally.summary()));
    CHECK(tally.failures().empty());
    CHECK(tally.worst_kb() < max_peak_kb);
}

// ---------------------------------------------------------------------------------------
// Bytes

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

Bytes flip(Bytes b, std::size_t bit) {
    b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
    return b;
}

// `b` with n little-endian bytes of `value` at `at`.
Bytes patch(Bytes b, std::size_t at, std::uint64_t value, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) b[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
    return b;
}

using Shared = std::shared_ptr<const Bytes>;
Shared share(Bytes b) { return std::make_shared<const Bytes>(std::move(b)); }

// A small valid IDX file as write_idx writes it, raw or gzip.
struct IdxBase {
    std::string name;  // "raw u8 (3, 4, 5)"
    bool gzip = false;
    Shared bytes;
};

IdxBase idx_base(const TempDir& dir, const Tensor& t, bool gzip) {
    const std::string path = dir / "base.idx";
    write_idx(path, t, gzip);
    return {fmt::format("{} {} {}", gzip ? "gzip" : "raw", dtype_name(t.dtype()), t.shape()), gzip,
            share(hostile::read_bytes(path))};
}

std::vector<IdxBase> idx_bases(const TempDir& dir) {
    const std::vector<Tensor> tensors{
        random_tensor({3, 4, 5}, DType::u8, 0, 256, 1), random_tensor({7}, DType::i32, -1e6, 1e6, 2),
        random_tensor({2, 3}, DType::f32, -10, 10, 3), random_tensor({2, 2}, DType::f64, -10, 10, 4)};
    std::vector<IdxBase> bases;
    for (bool gzip : {false, true})
        for (const Tensor& t : tensors) bases.push_back(idx_base(dir, t, gzip));
    return bases;
}

// Sets up a TempDir that uid 65534 may enter (its files keep their own modes).
void let_others_enter(const TempDir& dir) { fs::permissions(dir.path, fs::perms::others_exec, fs::perm_options::add); }

// ---------------------------------------------------------------------------------------
// Special files: the same list for every reader. `refuse(path, parts)` loads `path`,
// expecting an adjoint::Error naming every one of `parts`, and returns "" or what went
// wrong. `sparse_head`: the first bytes of a 1 TB sparse file (a header that fits its
// size, where the format allows).

using Refuse = std::function<std::string(const std::string& path, const std::vector<std::string>& parts)>;

std::vector<Case> special_cases(const std::string& category, const Refuse& refuse, const Bytes& sparse_head) {
    auto simple = [&](std::string label, std::function<std::string(const std::string&)> run) {
        return Case{category, std::move(label), [run = std::move(run)](const std::string& path) {
                        return Result{run(path), false};
                    }};
    };
    std::vector<Case> cases;
    cases.push_back(simple("a directory", [refuse](const std::string& p) {
        fs::create_directory(p);
        return refuse(p, {quoted(p), "is not a regular file (a directory)"});
    }));
    cases.push_back(simple("a FIFO (must not block)", [refuse](const std::string& p) {
        mkfifo(p.c_str(), 0600);
        return refuse(p, {quoted(p), "is not a regular file (a FIFO)"});
    }));
    cases.push_back(simple("a symbolic link to a FIFO", [refuse](const std::string& p) {
        mkfifo((p + ".fifo").c_str(), 0600);
        fs::create_symlink(p + ".fifo", p);
        std::string f = refuse(p, {quoted(p), "(a FIFO)"});
        fs::remove(p + ".fifo");
        return f;
    }));
    cases.push_back(simple("a symbolic link loop", [refuse](const std::string& p) {
        fs::create_symlink(p, p);
        return refuse(p, {quoted(p), "Too many levels of symbolic links"});
    }));
    cases.push_back(simple("a dangling symbolic link", [refuse](const std::string& p) {
        fs::create_symlink(p + ".nowhere", p);
        return refuse(p, {quoted(p), "No such file"});
    }));
    cases.push_back(simple("a Unix socket", [refuse](const std::string& p) {
        const int s = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        p.copy(address.sun_path, sizeof address.sun_path - 1);
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
        const bool bound = bind(s, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
        std::string f = bound ? refuse(p, {quoted(p)}) : std::string("cannot bind a socket");
        close(s);
        return f;
    }));
    for (const char* device : {"/dev/zero", "/dev/null", "/dev/urandom"})
        cases.push_back(simple(device, [refuse, device](const std::string&) {
            return refuse(device, {quoted(device), "is not a regular file (a device)"});
        }));
    cases.push_back(simple("/proc/self/status (a pseudo-file of size 0)", [refuse](const std::string&) {
        return refuse("/proc/self/status", {quoted("/proc/self/status")});
    }));
    cases.push_back(simple("an empty file", [refuse](const std::string& p) {
        hostile::write_bytes(p, "");
        return refuse(p, {quoted(p)});
    }));
    cases.push_back(simple("a missing file", [refuse](const std::string& p) {
        return refuse(p, {quoted(p), "No such file"});
    }));
    cases.push_back(simple("a path through a regular file", [refuse](const std::string& p) {
        hostile::write_bytes(p, "x");
        return refuse(p + "/file", {quoted(p + "/file"), "Not a directory"});
    }));
    cases.push_back(simple("a name too long", [refuse](const std::string& p) {
        const std::string long_name = p + std::string(300, 'x');
        return refuse(long_name, {"File name too long"});
    }));
    cases.push_back(simple("a sparse file of 1 TB", [refuse, sparse_head](const std::string& p) {
        hostile::write_bytes(p, sparse_head);
        fs::resize_file(p, std::uintmax_t{1} << 40);
        return refuse(p, {quoted(p)});
    }));
    return cases;
}

// Files another user cannot read: a 0600 file of root's, and a file in a 0700 folder of
// root's, read as uid 65534 (when not root: the same files with modes 000). `valid`: the
// files' bytes. Runs its own sandbox.
void unreadable_cases(hostile::Tally& tally, const TempDir& dir, const std::string& category, const Refuse& refuse,
                      const Bytes& valid) {
    const std::string secret = dir / "secret", locked = dir / "locked", inside = dir / "locked/file";
    hostile::write_bytes(secret, valid);
    fs::create_directory(locked);
    hostile::write_bytes(inside, valid);
    const bool root = getuid() == 0;
    fs::permissions(secret, root ? fs::perms::owner_read | fs::perms::owner_write : fs::perms::none);
    fs::permissions(locked, root ? fs::perms::owner_all : fs::perms::none);
    let_others_enter(dir);
    const std::vector<Case> cases{
        {category, root ? "another user's 0600 file, read as uid 65534" : "a file of mode 000",
         [=](const std::string&) {
             return Result{refuse(secret, {quoted(secret), "Permission denied"}), false};
         }},
        {category, root ? "a file in another user's 0700 folder, read as uid 65534" : "a file in a folder of mode 000",
         [=](const std::string&) {
             return Result{refuse(inside, {quoted(inside), "Permission denied"}), false};
         }},
    };
    run(tally, cases, dir.path.string(), {.as_nobody = true});
    fs::permissions(locked, fs::perms::owner_all);  // so that the TempDir can be removed
    fs::permissions(secret, fs::perms::owner_all);
    fs::remove_all(locked);
    fs::remove(secret);
}

// ---------------------------------------------------------------------------------------
// Checkpoints: the bases

// The toy model's weights as Sequential::save_weights writes them (seed 99: other values
// than those of the model the cases load into). Made in a child: no TBB in this process.
Bytes toy_checkpoint(const TempDir& dir) {
    const std::string path = dir / "toy.ckpt";
    const std::vector<Case> setup{{"setup", "Sequential::save_weights", [path](const std::string&) {
                                       toy_model(99)->save_weights(path);
                                       return Result{};
                                   }}};
    const std::vector<hostile::Outcome> outcome = hostile::run_sandboxed(setup, dir.path.string());
    REQUIRE_MESSAGE(outcome[0].failure.empty(), outcome[0].failure);
    return hostile::read_bytes(path);
}

// Every dtype, ranks 0 to 3, a tensor of no elements, a name in UTF-8.
Bytes mixed_checkpoint(const TempDir& dir) {
    const std::string path = dir / "mixed.ckpt";
    save_checkpoint(path, {{"f64 matrix", random_tensor({2, 3}, DType::f64, -5, 5, 1)},
                           {"i32", random_tensor({4}, DType::i32, -100, 100, 2)},
                           {"u8 cube", random_tensor({2, 2, 2}, DType::u8, 0, 256, 3)},
                           {"scalar", Tensor::scalar(1.5f)},
                           {"no elements", Tensor::zeros({0, 3})},
                           {"ünïcødé/名前", random_tensor({1}, DType::f32, -1, 1, 4)}});
    return hostile::read_bytes(path);
}

Refuse idx_refuse() {
    return [](const std::string& path, const std::vector<std::string>& parts) {
        return refused([&] { (void)read_idx(path); }, parts);
    };
}

// load_checkpoint and load_weights refuse it; the model's weights stay as they were.
Refuse checkpoint_refuse() {
    return [](const std::string& path, const std::vector<std::string>& parts) {
        std::string f = refused([&] { (void)load_checkpoint(path); }, parts);
        if (f.empty()) f = refused([&] { toy().model->load_weights(path); }, parts);
        if (f.empty()) f = weights_unchanged();
        return f;
    };
}

}  // namespace

// =======================================================================================

TEST_CASE("hostile IDX: truncation at every offset, every bit flip, random bit flips") {
    TempDir dir;
    hostile::Tally tally;
    std::vector<Case> cases;
    for (const IdxBase& b : idx_bases(dir)) {
        const std::string kind = b.gzip ? "idx gzip" : "idx raw";
        for (std::size_t n = 0; n < b.bytes->size(); ++n)
            cases.push_back(idx_case(kind + ": truncated at every offset", fmt::format("{} cut to {} bytes", b.name, n),
                                     [bytes = b.bytes, n] { return bytes->substr(0, n); }));
        for (std::size_t bit = 0; bit < 8 * b.bytes->size(); ++bit)
            cases.push_back(idx_case(kind + ": every single-bit flip",
                                     fmt::format("{}, bit {} of byte {}", b.name, bit % 8, bit / 8),
                                     [bytes = b.bytes, bit] { return flip(*bytes, bit); }));
    }
    // A larger file (6 KB raw; its gzip has Huffman codes and matches to hit), flipped at
    // random places.
    const Tensor images = random_tensor({8, 28, 28}, DType::u8, 0, 4, 5);
    for (bool gzip : {false, true}) {
        const IdxBase b = idx_base(dir, images, gzip);
        std::mt19937_64 rng(gzip ? 11 : 12);
        for (int i = 0; i < 300; ++i) {
            const std::size_t bit = rng() % (8 * b.bytes->size());
            cases.push_back(idx_case(fmt::format("{}: random bit flips", gzip ? "idx gzip" : "idx raw"),
                                     fmt::format("{}, bit {} of byte {}", b.name, bit % 8, bit / 8),
                                     [bytes = b.bytes, bit] { return flip(*bytes, bit); }));
        }
    }
    // gzip files larger than zlib's buffers (256 KB of u8, compressible; of f32, not),
    // cut at each of their first and last 64 offsets and at 200 random ones: zlib's gzread
    // takes a stream cut inside its trailer for a clean end when the data fills the
    // caller's buffer.
    for (const Tensor& t :
         {random_tensor({64, 64, 64}, DType::u8, 0, 4, 6), random_tensor({64, 1024}, DType::f32, 0, 1, 7)}) {
        const IdxBase b = idx_base(dir, t, true);
        std::vector<std::size_t> offsets;
        for (std::size_t i = 0; i < 64; ++i) offsets.insert(offsets.end(), {i, b.bytes->size() - 1 - i});
        std::mt19937_64 rng(14);
        for (int i = 0; i < 200; ++i) offsets.push_back(rng() % b.bytes->size());
        for (std::size_t n : offsets)
            cases.push_back(idx_case("idx gzip: truncated, 256 KB of data",
                                     fmt::format("{} cut to {} bytes", b.name, n),
                                     [bytes = b.bytes, n] { return bytes->substr(0, n); }));
    }
    run(tally, cases, dir.path.string());
    report("IDX truncations and bit flips", tally);
}

TEST_CASE("hostile IDX: forged dims, types, ranks, trailing bytes, gzip members and bombs") {
    TempDir dir;
    hostile::Tally tally;
    std::vector<Case> cases;
    const Tensor u8 = random_tensor({3, 4, 5}, DType::u8, 0, 256, 1);
    const Tensor f32 = random_tensor({2, 3}, DType::f32, -10, 10, 3);
    const Bytes raw = *idx_base(dir, u8, false).bytes, raw_f32 = *idx_base(dir, f32, false).bytes;
    const Bytes payload = raw.substr(16);
    // Each forgery raw, and the same bytes gzip-compressed.
    auto both = [&](const std::string& category, const std::string& label, const std::function<Bytes()>& make) {
        cases.push_back(idx_case("idx raw: " + category, label, make));
        cases.push_back(idx_case("idx gzip: " + category, label, [make] { return hostile::gzip(make()); }));
    };

    // Dims: each position 0, 1, 2^31 - 1, 2^32 - 1; products that overflow 2^63; huge
    // declared sizes (gzip: more than the file can inflate to); no elements at all.
    for (std::size_t pos = 0; pos < 3; ++pos)
        for (std::uint32_t value : {0u, 1u, 0x7fffffffu, 0xffffffffu}) {
            std::vector<std::uint32_t> dims{3, 4, 5};
            dims[pos] = value;
            both("forged dims", fmt::format("dim {} = {}", pos, value),
                 [=] { return hostile::idx_header(0x08, dims) + payload; });
        }
    const std::vector<std::pair<unsigned char, std::vector<std::uint32_t>>> forged{
        {0x08, {0xffffffff, 0xffffffff, 0xffffffff}},       // 2^96: overflows
        {0x0E, {0x7fffffff, 0x7fffffff, 0x7fffffff}},       // f64, 2^96 bytes
        {0x08, {1u << 21, 1u << 21, 1u << 21}},             // exactly 2^63 bytes
        {0x08, {1u << 21, 1u << 21, (1u << 21) - 1}},       // just below 2^63 bytes
        {0x0C, {1u << 30, 1u << 30, 2}},                    // i32: 2^63 bytes
        {0x08, {0xffffffff, 0xffffffff, 0xffffffff, 0}},    // overflows before the 0
        {0x08, {0, 0xffffffff, 0xffffffff, 0xffffffff}},    // 0 first: no elements
        {0x08, {1u << 20, 1u << 20, 1u << 10}},             // 1 PB
        {0x0E, {1u << 20, 1u << 20, 1u << 10}},             // 8 PB of f64
        {0x08, std::vector<std::uint32_t>(8, 0xffffffff)},  // rank 8, all 2^32 - 1
        {0x08, {0, 28, 28}},                                // no elements, no payload: valid
    };
    for (const auto& [type, dims] : forged)
        both("forged dims", fmt::format("type 0x{:02x}, dims {}", type, fmt::join(dims, " x ")),
             [type = type, dims = dims] { return hostile::idx_header(type, dims); });
    // The bound on gzip: a 1 KB gzip file that declares 1 PB and holds 1 MB of zeros.
    cases.push_back(idx_case("idx gzip: forged dims", "1 PB declared, 1 MB of zeros in 1 KB", [] {
        return hostile::gzip(hostile::idx_header(0x08, {1u << 20, 1u << 20, 1u << 10}) + Bytes(1 << 20, '\0'));
    }));

    // Every type byte and every rank byte.
    for (int type = 0; type < 256; ++type) {
        both("every type byte", fmt::format("u8 file, type 0x{:02x}", type), [raw, type] {
            Bytes b = raw;
            b[2] = static_cast<char>(type);
            return b;
        });
        both("every type byte", fmt::format("f32 file, type 0x{:02x}", type), [raw_f32, type] {
            Bytes b = raw_f32;
            b[2] = static_cast<char>(type);
            return b;
        });
    }
    for (int rank = 0; rank < 256; ++rank)
        both("every rank byte", fmt::format("u8 (3, 4, 5) file, rank {}", rank), [raw, rank] {
            Bytes b = raw;
            b[3] = static_cast<char>(rank);
            return b;
        });

    // Trailing bytes: raw, and inside the gzip stream.
    for (std::size_t extra : {1, 4, 1024})
        both("trailing bytes", fmt::format("{} bytes after the payload", extra),
             [raw, extra] { return raw + Bytes(extra, '\x2a'); });
    // gzip: what follows the member. Non-gzip bytes after a complete member are ignored by
    // zlib (the data is whole and checked); a further member with data is trailing data.
    const Bytes gz = hostile::gzip(raw);
    const std::vector<std::pair<std::string, Bytes>> after{
        {"garbage after the member", gz + "garbage"},
        {"a second member holding 1 byte", gz + hostile::gzip("x")},
        {"a second, empty member", gz + hostile::gzip("")},
        {"a second member cut short", gz + hostile::gzip(raw).substr(0, 20)},
        {"a second gzip magic alone", gz + "\x1f\x8b"},
    };
    for (const auto& [label, bytes] : after)
        cases.push_back(idx_case("idx gzip: after the member", label, [bytes = bytes] { return bytes; }));
    // Concatenated members: the file split into two members at every offset, and three.
    for (std::size_t cut = 1; cut < raw.size(); ++cut)
        cases.push_back(
            idx_case("idx gzip: concatenated members", fmt::format("two members, split at {}", cut),
                     [raw, cut] { return hostile::gzip(raw.substr(0, cut)) + hostile::gzip(raw.substr(cut)); }));
    cases.push_back(idx_case("idx gzip: concatenated members", "three members", [raw] {
        return hostile::gzip(raw.substr(0, 3)) + hostile::gzip(raw.substr(3, 20)) + hostile::gzip(raw.substr(23));
    }));

    // gzip bombs: ~1 MB files that inflate to 1 GiB of zeros after a valid file (one
    // stream, or 1024 members); a header that declares what the file could at most hold
    // (1032 times its size) while the stream holds 1 MiB, in u8 and in f64.
    const Shared stream_bomb = share(hostile::gzip_bomb(raw, 1024, false));
    const Shared member_bomb = share(hostile::gzip_bomb(raw, 1024, true));
    cases.push_back(idx_case("idx gzip: bombs",
                             fmt::format("{} bytes, one stream, 1 GiB of zeros", stream_bomb->size()),
                             [stream_bomb] { return *stream_bomb; }));
    cases.push_back(idx_case("idx gzip: bombs",
                             fmt::format("{} bytes, 1024 members, 1 GiB of zeros", member_bomb->size()),
                             [member_bomb] { return *member_bomb; }));
    std::mt19937_64 rng(7);
    Bytes noise(1 << 20, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    for (const auto& [type, size] : {std::pair<unsigned char, std::uint64_t>{0x08, 1}, {0x0E, 8}}) {
        // The declared count: as much as the file's size allows (its size barely depends on
        // the count: a margin of 64 bytes covers that).
        const std::uint64_t file = hostile::gzip(hostile::idx_header(type, {1}) + noise).size() - 64;
        const auto count = static_cast<std::uint32_t>((file * 1032 - 8) / size);
        const Shared bytes = share(hostile::gzip(hostile::idx_header(type, {count}) + noise));
        cases.push_back(idx_case(
            "idx gzip: bombs",
            fmt::format("{} bytes declaring {} elements of type 0x{:02x}, holding 1 MiB", bytes->size(), count, type),
            [bytes] { return *bytes; }));
    }
    run(tally, cases, dir.path.string());
    report("IDX forgeries", tally);
}

TEST_CASE("hostile IDX and MNIST folders: special files, files of another user, folders") {
    TempDir dir;
    hostile::Tally tally;
    run(tally, special_cases("idx: special files", idx_refuse(), hostile::idx_header(0x08, {1u << 20, 1u << 20})),
        dir.path.string());
    unreadable_cases(tally, dir, "idx: unreadable files", idx_refuse(),
                     *idx_base(dir, random_tensor({3}, DType::u8, 0, 256, 1), false).bytes);

    // load_mnist on a folder of four valid files with one of them spoiled: an error naming
    // that file (or the folder, when the file is not there as a regular file).
    const std::string train_images = "train-images-idx3-ubyte", train_labels = "train-labels-idx1-ubyte",
                      test_images = "t10k-images-idx3-ubyte", test_labels = "t10k-labels-idx1-ubyte";
    auto folder = [&](const std::string& label, const std::function<void(const std::string&)>& spoil,
                      const std::vector<std::string>& parts) {
        return Case{
            "mnist folder", label, [=](const std::string& path) {
                fs::create_directory(path);
                write_idx(path + "/" + train_images, random_tensor({6, 28, 28}, DType::u8, 0, 256, 1));
                write_idx(path + "/" + train_labels + ".gz", random_tensor({6}, DType::u8, 0, 10, 2), true);
                write_idx(path + "/" + test_images + ".gz", random_tensor({4, 28, 28}, DType::u8, 0, 256, 3), true);
                write_idx(path + "/" + test_labels, random_tensor({4}, DType::u8, 0, 10, 4));
                spoil(path);
                std::vector<std::string> named;
                named.reserve(parts.size());
                for (const std::string& p : parts) named.push_back(p == "FOLDER" ? quoted(path) : p);
                return Result{refused([&] { (void)load_mnist(path); }, named), false};
            }};
    };
    auto replace = [](const std::string& name, const std::function<void(const std::string&)>& make) {
        return [name, make](const std::string& folder) {
            fs::remove(folder + "/" + name);
            fs::remove(folder + "/" + name + ".gz");
            make(folder + "/" + name);
        };
    };
    const std::vector<Case> folders{
        folder("train images cut short",
               [train_images](const std::string& f) { fs::resize_file(f + "/" + train_images, 1000); }, {train_images}),
        folder("train labels of type f32",
               replace(train_labels, [](const std::string& p) { write_idx(p, Tensor::zeros({6})); }),
               {train_labels, "expected u8 of rank 1"}),
        folder("test images of rank 2",
               replace(test_images,
                       [](const std::string& p) {
                           write_idx(p, random_tensor({4, 784}, DType::u8, 0, 256, 1));
                       }),
               {test_images, "expected u8 of rank 3"}),
        folder("test images 0 x 28 x 28",
               replace(test_images,
                       [](const std::string& p) {
                           write_idx(p, Tensor::zeros({0, 28, 28}, DType::u8));
                       }),
               {test_images, "holds no data"}),
        folder("a label of 10",
               replace(test_labels,
                       [](const std::string& p) {
                           write_idx(p, Tensor::from<std::uint8_t>({1, 2, 10, 3}));
                       }),
               {test_labels, "label 10 at index 2"}),
        folder("5 labels for 6 images",
               replace(train_labels, [](const std::string& p) { write_idx(p, Tensor::zeros({5}, DType::u8)); }),
               {train_labels, "has 5 labels"}),
        folder("train images a gzip bomb",
               replace(train_images,
                       [](const std::string& p) {
                           hostile::write_bytes(p + ".gz", hostile::gzip_bomb(hostile::idx_header(0x08, {6, 28, 28}) +
                                                                                  Bytes(std::size_t{6} * 28 * 28, '\1'),
                                                                              1024, false));
                       }),
               {train_images + ".gz", "trailing bytes"}),
        folder("train images an empty file",
               replace(train_images, [](const std::string& p) { hostile::write_bytes(p, ""); }), {train_images}),
        folder("train images a directory", replace(train_images, [](const std::string& p) { fs::create_directory(p); }),
               {"neither " + train_images, "FOLDER"}),
        folder("train labels a FIFO (must not block)",
               replace(train_labels, [](const std::string& p) { mkfifo((p + ".gz").c_str(), 0600); }),
               {"neither " + train_labels, "FOLDER"}),
        folder("test images a symbolic link loop",
               replace(test_images, [](const std::string& p) { fs::create_symlink(p + ".gz", p + ".gz"); }),
               {test_images + ".gz", "Too many levels of symbolic links"}),
        folder("test labels missing", replace(test_labels, [](const std::string&) {}),
               {"neither " + test_labels, "FOLDER"}),
        folder("the folder a file",
               [](const std::string& f) {
                   fs::remove_all(f);
                   hostile::write_bytes(f, "not a folder");
               },
               {"FOLDER", "is not a directory"}),
        folder("the folder a symbolic link loop",
               [](const std::string& f) {
                   fs::remove_all(f);
                   fs::create_symlink(f, f);
               },
               {"FOLDER", "is not a directory: Too many levels of symbolic links"}),
    };
    run(tally, folders, dir.path.string());
    report("IDX special files and MNIST folders", tally);
}

TEST_CASE("hostile checkpoints: truncation at every offset, every header bit flip, random bit flips") {
    TempDir dir;
    hostile::Tally tally;
    std::vector<Case> cases;
    const Shared toy = share(toy_checkpoint(dir)), mixed = share(mixed_checkpoint(dir));
    const hostile::Verdict toy_layout = hostile::decode_checkpoint(*toy),
                           mixed_layout = hostile::decode_checkpoint(*mixed);
    REQUIRE(toy_layout.valid);
    REQUIRE(mixed_layout.valid);
    REQUIRE(toy_layout.tensors.size() == 8);  // 4 weights and RMSprop's 4 mean squares
    for (const auto& [name, base] : {std::pair{"toy model", toy}, std::pair{"mixed", mixed}})
        for (std::size_t n = 0; n < base->size(); ++n)
            cases.push_back(checkpoint_case("checkpoint: truncated at every offset",
                                            fmt::format("{} file cut to {} bytes", name, n),
                                            [base = base, n] { return base->substr(0, n); }));
    // Every bit of every byte that is not tensor data (CRC-protected: a few hundred random
    // flips below), in the model's file; every bit of the small mixed file.
    std::vector<bool> is_payload(toy->size(), false);
    for (const hostile::Layout& l : toy_layout.layout)
        for (std::size_t i = l.payload; i < l.crc; ++i) is_payload[i] = true;
    for (std::size_t bit = 0; bit < 8 * toy->size(); ++bit)
        if (!is_payload[bit / 8])
            cases.push_back(checkpoint_case("checkpoint: every header bit flip",
                                            fmt::format("toy model file, bit {} of byte {}", bit % 8, bit / 8),
                                            [toy, bit] { return flip(*toy, bit); }));
    for (std::size_t bit = 0; bit < 8 * mixed->size(); ++bit)
        cases.push_back(checkpoint_case("checkpoint: every bit flip of a small file",
                                        fmt::format("mixed file, bit {} of byte {}", bit % 8, bit / 8),
                                        [mixed, bit] { return flip(*mixed, bit); }));
    std::mt19937_64 rng(13);
    for (int i = 0; i < 300; ++i) {
        const std::size_t bit = rng() % (8 * toy->size());
        cases.push_back(checkpoint_case("checkpoint: random bit flips",
                                        fmt::format("toy model file, bit {} of byte {}", bit % 8, bit / 8),
                                        [toy, bit] { return flip(*toy, bit); }));
    }
    for (int i = 0; i < 100; ++i) {
        const std::size_t at = rng() % toy->size(), n = 1 + rng() % 8;
        const std::uint64_t value = rng();
        cases.push_back(checkpoint_case(
            "checkpoint: random bytes overwritten", fmt::format("toy model file, {} bytes at {}", n, at),
            [toy, at, n, value] { return patch(*toy, at, value, std::min(n, toy->size() - at)); }));
    }
    run(tally, cases, dir.path.string());
    report("checkpoint truncations and bit flips", tally);
}

TEST_CASE("hostile checkpoints: forged lengths, counts, dtypes, ranks, dims, names, shapes, values") {
    TempDir dir;
    hostile::Tally tally;
    std::vector<Case> cases;
    const Shared toy = share(toy_checkpoint(dir));
    const hostile::Verdict base = hostile::decode_checkpoint(*toy);
    REQUIRE(base.valid);
    std::vector<hostile::Entry> entries;
    for (const NamedTensor& t : base.tensors) entries.push_back(hostile::entry_of(t.name, t.value));
    REQUIRE(hostile::checkpoint_bytes(entries) == *toy);  // the builder writes what save_weights does

    // Fields patched in place: the version, the count, and each tensor's name length, dtype,
    // rank, dims, byte count and checksum.
    auto patched = [&](const std::string& category, const std::string& label, std::size_t at, std::uint64_t value,
                       std::size_t n) {
        cases.push_back(checkpoint_case("checkpoint: " + category, label,
                                        [toy, at, value, n] { return patch(*toy, at, value, n); }));
    };
    for (std::uint32_t v : {0u, 2u, 0xffffffffu}) patched("forged version", fmt::format("version {}", v), 8, v, 4);
    for (std::uint32_t c : {0u, 3u, 5u, 0x7fffffffu, 0xffffffffu})
        patched("forged count", fmt::format("count {}", c), 12, c, 4);
    for (std::size_t k = 0; k < base.layout.size(); ++k) {
        const hostile::Layout& l = base.layout[k];
        const std::string& name = base.tensors[k].name;
        const std::uint64_t length = name.size(), bytes = base.tensors[k].value.nbytes();
        for (std::uint64_t v : {std::uint64_t{0}, length - 1, length + 1, std::uint64_t{0x7fffffff},
                                std::uint64_t{0xffffffff}, std::uint64_t{toy->size()}})
            patched("forged name lengths", fmt::format("\"{}\": name length {}", name, v), l.name_length, v, 4);
        for (int dtype = 0; dtype < 256; ++dtype)
            patched("every dtype byte", fmt::format("\"{}\": dtype {}", name, dtype), l.dtype,
                    static_cast<std::uint64_t>(dtype), 1);
        for (int rank = 0; rank < 256; ++rank)
            patched("every rank byte", fmt::format("\"{}\": rank {}", name, rank), l.rank,
                    static_cast<std::uint64_t>(rank), 1);
        for (std::size_t j = 0; j < base.tensors[k].value.shape().rank(); ++j)
            for (std::uint64_t v : {~std::uint64_t{0}, std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1} << 31,
                                    std::uint64_t{0xffffffff}, std::uint64_t{1} << 62, std::uint64_t{1} << 63,
                                    (std::uint64_t{1} << 63) - 1})
                patched("forged dims", fmt::format("\"{}\": dim {} = {}", name, j, static_cast<std::int64_t>(v)),
                        l.dims + 8 * j, v, 8);
        for (std::uint64_t v : {std::uint64_t{0}, bytes - 1, bytes + 1, bytes * 2, std::uint64_t{1} << 63,
                                ~std::uint64_t{0}, ~std::uint64_t{0} - 3, ~std::uint64_t{0} - 7})
            patched("forged byte counts", fmt::format("\"{}\": byte count {}", name, v), l.byte_count, v, 8);
        patched("forged checksums", fmt::format("\"{}\": checksum 0", name), l.crc, 0, 4);
    }

    // Whole files forged with consistent fields (valid checksums).
    auto forged = [&](const std::string& category, const std::string& label, std::vector<hostile::Entry> e,
                      CheckpointOptions options = {}) {
        cases.push_back(checkpoint_case(
            "checkpoint: " + category, label, [e = std::move(e)] { return hostile::checkpoint_bytes(e); }, options));
    };
    auto with = [&](std::size_t k, const std::function<void(hostile::Entry&)>& change) {
        std::vector<hostile::Entry> e = entries;
        change(e[k]);
        return e;
    };
    auto resized = [](std::vector<std::int64_t> dims) {
        return [dims = std::move(dims)](hostile::Entry& e) {
            e.dims = dims;
            e.rank = static_cast<std::uint8_t>(dims.size());
        };
    };
    // A size that wraps around: f32 of 2^62 - 1 elements is 2^64 - 4 bytes, and 4 more
    // for the checksum wrap to 0.
    forged("forged sizes", "f32 of 2^62 - 1 elements, 2^64 - 4 bytes", with(0, [&](hostile::Entry& e) {
               resized({(std::int64_t{1} << 62) - 1})(e);
               e.bytes = ~std::uint64_t{0} - 3;
           }));
    forged("forged sizes", "u8 of 2^63 - 1 elements", with(0, [&](hostile::Entry& e) {
               resized({std::numeric_limits<std::int64_t>::max()})(e);
               e.dtype = static_cast<std::uint8_t>(DType::u8);
               e.bytes = std::numeric_limits<std::int64_t>::max();
           }));
    forged("forged sizes", "f64 of 2^61 x 4 elements (overflow)", with(0, [&](hostile::Entry& e) {
               resized({std::int64_t{1} << 61, 4})(e);
               e.dtype = static_cast<std::uint8_t>(DType::f64);
               e.bytes = 0;
           }));
    forged("forged sizes", "rank 8 of 0 x ... x 0: no elements", with(0, [&](hostile::Entry& e) {
               resized(std::vector<std::int64_t>(8, 0))(e);
               e.bytes = 0;
               e.payload.clear();
               e.crc = 0;
           }));
    forged("forged sizes", "rank 9", with(1, resized({16, 1, 1, 1, 1, 1, 1, 1, 1})));
    // Names, shapes and dtypes that do not fit the model; duplicates; missing and extra tensors.
    forged("wrong shapes and dtypes", "dense/kernel (16, 20): transposed", with(0, resized({16, 20})));
    forged("wrong shapes and dtypes", "dense/bias (4, 4)", with(1, resized({4, 4})));
    forged("wrong shapes and dtypes", "dense/bias (1, 16)", with(1, resized({1, 16})));
    forged("wrong shapes and dtypes", "dense_1/bias () of 3 bytes", with(3, [](hostile::Entry& e) {
               e = hostile::entry_of(e.name, Tensor::from<std::uint8_t>({1, 2, 3}));
           }));
    forged("wrong shapes and dtypes", "dense/kernel as i32",
           with(0, [](hostile::Entry& e) { e.dtype = static_cast<std::uint8_t>(DType::i32); }));
    forged("wrong shapes and dtypes", "dense/kernel as f64", with(0, [](hostile::Entry& e) {
               e = hostile::entry_of(e.name, Tensor::zeros({20, 16}, DType::f64));
           }));
    for (const std::string& name : {std::string("dense/kernel "), std::string("Dense/kernel"), std::string(""),
                                    std::string("dense/kernel\0x", 14), std::string("\xff\xfe\x80"),
                                    std::string(65536, 'n'), std::string("dense/bias")})
        forged("names", fmt::format("dense/kernel renamed to a name of {} bytes", name.size()),
               with(0, [name](hostile::Entry& e) { e.name = name; }));
    for (std::size_t k = 0; k < entries.size(); ++k) {
        std::vector<hostile::Entry> missing = entries;
        missing.erase(missing.begin() + static_cast<std::ptrdiff_t>(k));
        forged("missing and extra tensors", fmt::format("without \"{}\"", entries[k].name), missing);
        std::vector<hostile::Entry> twice = entries;
        twice.push_back(entries[k]);
        forged("missing and extra tensors", fmt::format("\"{}\" twice", entries[k].name), twice);
    }
    std::vector<hostile::Entry> extra = entries;
    extra.push_back(hostile::entry_of("extra/tensor", Tensor::zeros({2})));
    forged("missing and extra tensors", "an extra tensor", extra);
    forged("missing and extra tensors", "no tensors", {});
    std::vector<hostile::Entry> reversed(entries.rbegin(), entries.rend());
    forged("missing and extra tensors", "the model's tensors in reverse order (loads)", reversed);
    // NaN and infinities: refused, unless allowed (then they load).
    for (const auto& [k, index, value] :
         {std::tuple{std::size_t{0}, 5, NAN}, std::tuple{std::size_t{0}, 0, INFINITY},
          std::tuple{std::size_t{2}, 47, -INFINITY}, std::tuple{std::size_t{3}, 2, NAN}})
        for (bool allow : {false, true}) {
            Tensor t = base.tensors[k].value.clone();
            t.data<float>()[index] = value;
            forged("non-finite values",
                   fmt::format("\"{}\"[{}] = {}{}", entries[k].name, index, value, allow ? ", allowed" : ""),
                   with(k, [t, &entries, k = k](hostile::Entry& e) { e = hostile::entry_of(entries[k].name, t); }),
                   {.allow_non_finite = allow});
        }
    // Trailing bytes.
    for (const Bytes& tail : {Bytes(1, '\0'), Bytes(100, 'x'), *toy})
        cases.push_back(checkpoint_case("checkpoint: trailing bytes",
                                        fmt::format("{} bytes after the tensors", tail.size()),
                                        [toy, tail] { return *toy + tail; }));
    run(tally, cases, dir.path.string());
    report("checkpoint forgeries", tally);
}

TEST_CASE("hostile checkpoints: special files, files of another user") {
    TempDir dir;
    hostile::Tally tally;
    const Bytes toy = toy_checkpoint(dir);
    run(tally, special_cases("checkpoint: special files", checkpoint_refuse(), toy), dir.path.string());
    unreadable_cases(tally, dir, "checkpoint: unreadable files", checkpoint_refuse(), toy);
    report("checkpoint special files", tally);
}

TEST_CASE("hostile saves: a save that fails leaves the old file as it was, and no temporary") {
    TempDir dir;
    hostile::Tally tally;
    const Bytes good = toy_checkpoint(dir);
    // Each case: `target` holds a good checkpoint (or is what the case made it), a save
    // fails naming it, and then it is as it was, with no ".<name>.*" beside it.
    auto save_case = [&](const std::string& label, const std::function<void(const std::string& target)>& prepare,
                         const std::function<std::string(const std::string& target)>& save) {
        return Case{"saves that fail", label, [=](const std::string& path) {
                        fs::create_directory(path);
                        const std::string target = path + "/w.ckpt";
                        hostile::write_bytes(target, good);
                        prepare(target);
                        const fs::file_status before = fs::symlink_status(target);
                        const Bytes bytes = fs::is_regular_file(target) ? hostile::read_bytes(target) : "";
                        Result r{save(target), false};
                        if (!r.failure.empty()) return r;
                        if (fs::symlink_status(target).type() != before.type())
                            r.failure = "the target is no longer the same kind of file";
                        else if (fs::is_regular_file(target) && hostile::read_bytes(target) != bytes)
                            r.failure = "the target's bytes changed";
                        for (const auto& e : fs::directory_iterator(path))
                            if (e.path().filename().string().starts_with(".w.ckpt."))
                                r.failure = "a temporary was left: " + e.path().string();
                        return r;
                    }};
    };
    auto nothing = [](const std::string&) {};
    auto save_toy = [](const std::string& target) {
        return refused([&] { toy().model->save_weights(target); }, {quoted(target)});
    };
    const std::vector<Case> cases{
        save_case("a weight is NaN", nothing,
                  [](const std::string& target) {
                      Toy& t = toy();
                      Tensor k = t.original[0].clone();
                      k.data<float>()[3] = NAN;
                      t.model->session().set_value(t.weights[0], k);
                      std::string f =
                          refused([&] { t.model->save_weights(target); }, {quoted(target), "\"dense/kernel\"", "nan"});
                      t.model->session().set_value(t.weights[0], t.original[0]);
                      return f;
                  }),
        save_case("the file size limit is reached", nothing,
                  [save_toy](const std::string& target) {
                      rlimit old{};
                      getrlimit(RLIMIT_FSIZE, &old);
                      const rlimit small{1000, old.rlim_max};
                      const auto handler = std::signal(SIGXFSZ, SIG_IGN);  // else the kernel ends the process
                      setrlimit(RLIMIT_FSIZE, &small);
                      std::string f = save_toy(target);
                      setrlimit(RLIMIT_FSIZE, &old);
                      std::signal(SIGXFSZ, handler);
                      return f;
                  }),
        save_case(
            "the target is a directory",
            [](const std::string& target) {
                fs::remove(target);
                fs::create_directories(target + "/inside");
            },
            save_toy),
        save_case(
            "the target is a FIFO",
            [](const std::string& target) {
                fs::remove(target);
                mkfifo(target.c_str(), 0600);
            },
            save_toy),
        save_case("the folder is a regular file", nothing,
                  [](const std::string& target) {
                      return refused([&] { toy().model->save_weights(target + "/w.ckpt"); },
                                     {quoted(target + "/w.ckpt")});
                  }),
        save_case("the name is too long", nothing,
                  [](const std::string& target) {
                      return refused([&] { toy().model->save_weights(target + std::string(300, 'x')); },
                                     {"File name too long"});
                  }),
    };
    run(tally, cases, dir.path.string());

    // A folder this user cannot write to (root: run as uid 65534; else: mode 555).
    const std::string folder = dir / "read-only", target = folder + "/w.ckpt";
    fs::create_directory(folder);
    hostile::write_bytes(target, good);
    const bool root = getuid() == 0;
    if (!root) fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
    let_others_enter(dir);
    fs::permissions(folder, fs::perms::others_exec | fs::perms::others_read, fs::perm_options::add);
    fs::permissions(target, fs::perms::others_read, fs::perm_options::add);
    const std::vector<Case> read_only{
        {"saves that fail", root ? "a folder of root's, saved to as uid 65534" : "a folder of mode 555",
         [=](const std::string&) {
             Result r{refused([&] { toy().model->save_weights(target); },
                              {quoted(target), "cannot create a temporary file"}),
                      false};
             if (r.failure.empty() && hostile::read_bytes(target) != good) r.failure = "the target's bytes changed";
             return r;
         }},
    };
    run(tally, read_only, dir.path.string(), {.as_nobody = true});
    fs::permissions(folder, fs::perms::owner_all);
    report("saves that fail", tally);
}

}  // namespace adjoint::test
