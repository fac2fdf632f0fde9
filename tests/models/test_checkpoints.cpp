// Sequential's weights files: round trips, corrupt files refused with nothing changed,
// failed saves that leave the old file.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <limits>

#include <filesystem>
#include <fstream>

#include "toy.hpp"

namespace adjoint::test {

namespace {
namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

TEST_CASE("Sequential: a checkpoint holds the optimizer's state, and training resumes to the same bits") {
    Toy data;
    TempDir dir;
    auto straight = model(), first = model(), resumed = model();  // one seed: the shuffles are the seed's
    straight->fit(data.x, data.onehot, {.epochs = 3});
    first->fit(data.x, data.onehot, {.epochs = 1});
    first->save_weights(dir / "epoch1.ckpt");
    std::vector<std::string> names;
    for (const NamedTensor& t : load_checkpoint(dir / "epoch1.ckpt")) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
                                            "optimizer/RMSprop/dense/kernel/rms", "optimizer/RMSprop/dense/bias/rms",
                                            "optimizer/RMSprop/dense_1/kernel/rms",
                                            "optimizer/RMSprop/dense_1/bias/rms"});
    resumed->load_weights(dir / "epoch1.ckpt");
    const History h = resumed->fit(data.x, data.onehot, {.epochs = 3, .initial_epoch = 1});
    REQUIRE(h.epochs.size() == 2);
    CHECK(h.epochs[0].epoch == 2);
    CHECK(same_weights(weights(*resumed), weights(*straight)));
    // Without the optimizer's state (weights alone), the same weights load, and the run
    // differs: the state was what made it resume.
    std::vector<NamedTensor> weights_only = load_checkpoint(dir / "epoch1.ckpt");
    weights_only.resize(4);
    save_checkpoint(dir / "weights.ckpt", weights_only);
    auto cold = model();
    cold->load_weights(dir / "weights.ckpt");
    CHECK(same_weights(weights(*cold), weights(*first)));
    cold->fit(data.x, data.onehot, {.epochs = 3, .initial_epoch = 1});
    CHECK(!same_weights(weights(*cold), weights(*straight)));
    // Another optimizer's state is left aside (fine-tuning with another optimizer).
    auto sgd = model(7, "sgd");
    sgd->load_weights(dir / "epoch1.ckpt");
    CHECK(same_weights(weights(*sgd), weights(*first)));
    // A state of the wrong shape, or part of the state, is refused, naming it; and so is
    // what is neither a weight nor a state; initial_epoch is checked.
    const std::vector<NamedTensor> whole = load_checkpoint(dir / "epoch1.ckpt");
    const auto before = weights(*cold);
    std::vector<Tensor> state_before;
    for (const Expr& v : cold->optimizer_weights()) state_before.push_back(cold->session().value(v));
    std::vector<NamedTensor> bad = whole;
    bad[5].value = Tensor::zeros({3});
    save_checkpoint(dir / "bad-state.ckpt", bad);
    CHECK_ERROR(cold->load_weights(dir / "bad-state.ckpt"),
                "\"optimizer/RMSprop/dense/bias/rms\" is f32 (3,) in the file but f32 (16,) in the optimizer");
    bad = whole;
    bad.erase(bad.begin() + 6);
    save_checkpoint(dir / "part-state.ckpt", bad);
    CHECK_ERROR(cold->load_weights(dir / "part-state.ckpt"),
                "holds part of the optimizer's state, without \"optimizer/RMSprop/dense_1/kernel/rms\"");
    bad = whole;
    bad.push_back({"RMSprop/extra", Tensor::zeros({1})});
    save_checkpoint(dir / "extra.ckpt", bad);
    CHECK_ERROR(cold->load_weights(dir / "extra.ckpt"), "holds \"RMSprop/extra\", which the model does not have");
    CHECK(same_weights(weights(*cold), before));
    std::vector<Tensor> state_after;
    for (const Expr& v : cold->optimizer_weights()) state_after.push_back(cold->session().value(v));
    CHECK(same_weights(state_after, state_before));
    CHECK_ERROR(cold->fit(data.x, data.onehot, {.epochs = 2, .initial_epoch = 3}),
                "initial_epoch is 3; it must be from 0 to epochs (2)");
}

TEST_CASE("Sequential: checkpoints round-trip bit for bit; a bad file changes nothing") {
    Toy data;
    TempDir dir;
    auto m = model();
    m->fit(data.x, data.onehot, {.epochs = 1});
    m->save_weights(dir / "w.ckpt");
    CHECK((fs::status(dir / "w.ckpt").permissions() & fs::perms::others_read) !=
          fs::perms::none);  // not mkstemp's 0600
    const auto trained = weights(*m);
    auto fresh = model(99);
    fresh->load_weights(dir / "w.ckpt");
    CHECK(same_weights(weights(*fresh), trained));
    CHECK(fresh->evaluate(data.x, data.onehot).loss == m->evaluate(data.x, data.onehot).loss);

    // Corrupt copies: every one is refused and leaves the weights as they were.
    std::string bytes;
    {
        std::ifstream f(dir / "w.ckpt", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    auto write = [&](const std::string& name, const std::string& content) {
        std::ofstream(dir / name, std::ios::binary) << content;
        return dir / name;
    };
    auto other = model(5);
    const auto before = weights(*other);
    std::string flipped = bytes;
    flipped[flipped.size() - 10] ^= 0x40;
    CHECK_ERROR(other->load_weights(write("flip", flipped)), "fails its CRC-32 check");
    CHECK_ERROR(other->load_weights(write("short", bytes.substr(0, bytes.size() - 7))), "is truncated");
    std::string magic = bytes;
    magic[0] = 'X';
    CHECK_ERROR(other->load_weights(write("magic", magic)), "bad magic");
    CHECK_ERROR(other->load_weights(write("tail", bytes + "x")), "1 trailing bytes");
    std::string version = bytes;
    version[8] = 2;
    CHECK_ERROR(other->load_weights(write("version", version)), "format version 2");
    CHECK_ERROR(other->load_weights(dir / "none"), "cannot open");
    // A checkpoint of another architecture.
    Sequential wide({.seed = 1});
    wide.add(Dense(32, "relu", 20));
    wide.add(Dense(3, "softmax"));
    wide.compile(RMSprop(), "categorical_crossentropy");
    wide.save_weights(dir / "wide.ckpt");
    CHECK_ERROR(other->load_weights(dir / "wide.ckpt"),
                "\"dense/kernel\" is f32 (20, 32) in the file but f32 (20, 16) in the model");
    save_checkpoint(dir / "partial.ckpt", {{"dense/kernel", Tensor::zeros({20, 16})}});
    CHECK_ERROR(other->load_weights(dir / "partial.ckpt"), "has no tensor \"dense/bias\"");
    CHECK(same_weights(weights(*other), before));

    // A save that fails leaves the old file as it was.
    fs::create_directory(dir / "ro");
    m->save_weights(dir / "ro/w.ckpt");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    if (getuid() != 0) {  // root writes anyway
        CHECK_ERROR(m->save_weights(dir / "ro/w.ckpt"), "cannot create a temporary file");
    }
    fs::permissions(dir / "ro", fs::perms::owner_all);
    CHECK(load_checkpoint(dir / "ro/w.ckpt").size() == 8);  // 4 weights, and RMSprop's 4 mean squares
    // Writes that fail midway: the file size limit binds root too. The old file stays whole.
    const auto read_all = [](const std::string& path) {
        std::ifstream f(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), {});
    };
    const std::string old_bytes = read_all(dir / "ro/w.ckpt");
    auto other_trained = model(11);
    other_trained->fit(data.x, data.onehot, {.epochs = 1});
    rlimit limit{};
    getrlimit(RLIMIT_FSIZE, &limit);
    const rlimit small{old_bytes.size() / 2, limit.rlim_max};
    const auto handler = std::signal(SIGXFSZ, SIG_IGN);  // else the kernel ends the process
    setrlimit(RLIMIT_FSIZE, &small);
    const std::string message = error_of([&] { other_trained->save_weights(dir / "ro/w.ckpt"); });
    setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, handler);
    CHECK(message.find("cannot write") != std::string::npos);
    CHECK(read_all(dir / "ro/w.ckpt") == old_bytes);
    CHECK_ERROR(m->save_weights(dir / "missing/dir/w.ckpt"), "cannot create a temporary file");
    // No temporary file (".<name>.XXXXXX", as mkstemp fills it in) is left behind.
    for (const std::string& folder : {dir.path.string(), dir / "ro"})
        for (const auto& e : fs::directory_iterator(folder)) {
            CAPTURE(e.path().string());
            CHECK(e.path().filename().string().front() != '.');
        }
}

TEST_CASE("Checkpoints: NaN and infinite weights are refused both ways unless allowed") {
    Toy data;
    TempDir dir;
    auto m = model();
    m->save_weights(dir / "good.ckpt");
    const std::string good = read_bytes(dir / "good.ckpt");
    // A model whose weights went non-finite: not saved over the good checkpoint.
    Tensor kernel = m->session().value(m->layer<Dense>(0).kernel);
    kernel.data<float>()[7] = NAN;
    m->session().set_value(m->layer<Dense>(0).kernel, kernel);
    CHECK_ERROR(m->save_weights(dir / "good.ckpt"), "tensor \"dense/kernel\" holds nan at index 7", "was not written",
                "allow_non_finite");
    CHECK(read_bytes(dir / "good.ckpt") == good);
    // Asked for, it is saved; and loading it is refused unless asked for too.
    m->save_weights(dir / "nan.ckpt", {.allow_non_finite = true});
    auto other = model(5);
    const auto before = weights(*other);
    CHECK_ERROR(other->load_weights(dir / "nan.ckpt"), "\"dense/kernel\" holds nan at index 7");
    CHECK(same_weights(weights(*other), before));
    other->load_weights(dir / "nan.ckpt", {.allow_non_finite = true});
    CHECK(std::isnan(other->session().value(other->layer<Dense>(0).kernel).data<float>()[7]));
    save_checkpoint(dir / "inf.ckpt", {{"w", Tensor::from({1.f, INFINITY})}}, {.allow_non_finite = true});
    CHECK_ERROR(load_checkpoint(dir / "inf.ckpt"), "\"w\" holds inf at index 1");
    CHECK(first_non_finite(Tensor::from({1.0, -std::numeric_limits<double>::infinity()})) == 1);
    CHECK(!first_non_finite(Tensor::from<std::int32_t>({1, 2})).has_value());
}

TEST_CASE("Checkpoints: only regular files are read; no temporary is left beside a save") {
    TempDir dir;
    save_checkpoint(dir / "w.ckpt", {{"w", Tensor::from({1.f, 2.f})}});
    fs::create_directory(dir / "folder");
    CHECK_ERROR(load_checkpoint(dir / "folder"), "load_checkpoint", "folder\" is not a regular file (a directory)");
    // A FIFO is refused at once rather than waited on.
    REQUIRE(mkfifo((dir / "fifo").c_str(), 0600) == 0);
    CHECK_ERROR(load_checkpoint(dir / "fifo"), "fifo\" is not a regular file (a FIFO)");
    fs::create_symlink("loop", dir / "loop");
    CHECK_ERROR(load_checkpoint(dir / "loop"), "cannot open", "loop\"", "symbolic links");
    CHECK_ERROR(load_checkpoint(dir / "none"), "cannot open", "No such file");
    // A payload cut short says so, naming the tensor.
    const std::string bytes = read_bytes(dir / "w.ckpt");
    std::ofstream(dir / "cut.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() - 6);
    CHECK_ERROR(load_checkpoint(dir / "cut.ckpt"), "is truncated: tensor \"w\" of shape (2,) needs 12 bytes");
    // Saves leave no temporary behind, and remove those a killed save left: files of
    // their own pattern that no save holds (locks). Other files are the user's.
    std::ofstream(dir / ".w.ckpt.adjoint-abcdef") << "a save killed midway";
    std::ofstream(dir / ".w.ckpt.backup") << "the user's";
    std::ofstream(dir / ".w.ckpt.adjoint-held00") << "a save in progress";
    const int held = open((dir / ".w.ckpt.adjoint-held00").c_str(), O_RDONLY);
    REQUIRE(flock(held, LOCK_EX) == 0);
    save_checkpoint(dir / "w.ckpt", {{"w", Tensor::from({3.f})}});
    CHECK(!fs::exists(dir / ".w.ckpt.adjoint-abcdef"));
    CHECK(fs::exists(dir / ".w.ckpt.backup"));
    CHECK(fs::exists(dir / ".w.ckpt.adjoint-held00"));
    close(held);
    save_checkpoint(dir / "w.ckpt", {{"w", Tensor::from({3.f})}});
    CHECK(!fs::exists(dir / ".w.ckpt.adjoint-held00"));
    CHECK(load_checkpoint(dir / "w.ckpt")[0].value.as_double(0) == 3);
}

TEST_CASE("Checkpoints: a save refuses what a load would refuse") {
    TempDir dir;
    save_checkpoint(dir / "w.ckpt", {{"w", Tensor::from({1.f})}});
    CHECK_ERROR(save_checkpoint(dir / "w.ckpt", {{"w", Tensor::from({2.f})}, {"w", Tensor::from({3.f})}}),
                "two tensors are named \"w\"", "w.ckpt\" was not written");
    CHECK(load_checkpoint(dir / "w.ckpt")[0].value.as_double(0) == 1);
}

TEST_CASE("Checkpoints: a save follows a symbolic link, and a new file obeys the umask") {
    TempDir dir;
    fs::create_directory(dir / "run3");
    save_checkpoint(dir / "run3/w.ckpt", {{"w", Tensor::from({1.f})}});
    fs::create_symlink("run3/w.ckpt", dir / "latest.ckpt");
    save_checkpoint(dir / "latest.ckpt", {{"w", Tensor::from({2.f})}});
    CHECK(fs::is_symlink(dir / "latest.ckpt"));
    CHECK(load_checkpoint(dir / "run3/w.ckpt")[0].value.as_double(0) == 2);
    const mode_t before = umask(077);
    save_checkpoint(dir / "private.ckpt", {{"w", Tensor::from({1.f})}});
    umask(before);
    CHECK((fs::status(dir / "private.ckpt").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
    // An existing file keeps its mode.
    fs::permissions(dir / "private.ckpt", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    save_checkpoint(dir / "private.ckpt", {{"w", Tensor::from({2.f})}});
    CHECK((fs::status(dir / "private.ckpt").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
}

}  // namespace adjoint::test
