#include "sandbox.hpp"

#include <grp.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ADJOINT_HOSTILE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define ADJOINT_HOSTILE_SANITIZED 1
#endif
#endif

// Huge allocations fail (aligned_alloc returns null, as under an address-space limit)
// rather than end the process; ASAN_OPTIONS or TSAN_OPTIONS still override these.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() {  // NOLINT(bugprone-reserved-identifier)
    return "allocator_may_return_null=1:max_allocation_size_mb=3000";
}
#endif
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() {  // NOLINT(bugprone-reserved-identifier)
    return "allocator_may_return_null=1:max_allocation_size_mb=3000";
}
#endif

namespace adjoint::hostile {

namespace {

// A failure text on one line of the pipe.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\t') c = ' ';
    return s;
}

bool write_all(int fd, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        const ssize_t n = write(fd, s.data() + done, s.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// The child: runs cases [from, end) and writes "index \t loaded \t peak_kb \t failure" per
// case to fd. Never returns.
[[noreturn]] void child(const std::vector<Case>& cases, std::size_t from, const std::string& dir,
                        const SandboxOptions& options, int fd) {
    std::string setup_failure;
    // The address-space limit bounds what is allocated, the peak RSS what is touched:
    // MALLOC_PERTURB_ (meson test sets it) would fill every allocation, touching it all.
    mallopt(M_PERTURB, 0);
    if (!sanitized()) {
        const rlimit limit{options.address_space, options.address_space};
        if (setrlimit(RLIMIT_AS, &limit) != 0) setup_failure = fmt::format("setrlimit: {}", std::strerror(errno));
    }
    if (options.as_nobody && getuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
        setup_failure = fmt::format("cannot become uid 65534: {}", std::strerror(errno));
    for (std::size_t i = from; i < cases.size(); ++i) {
        const std::string path = fmt::format("{}/case-{}", dir, i);
        Result r;
        if (!setup_failure.empty()) {
            r.failure = setup_failure;
        } else {
            alarm(options.case_seconds);  // SIGALRM ends the child: the parent reports a hang
            try {
                r = cases[i].run(path);
            } catch (const std::exception& e) {
                r.failure = fmt::format("the case's own code threw: {}", e.what());
            }
            alarm(0);
        }
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        if (!write_all(fd, fmt::format("{}\t{}\t{}\t{}\n", i, r.loaded ? 1 : 0, usage.ru_maxrss, one_line(r.failure))))
            _exit(3);
    }
    _exit(0);
}

}  // namespace

bool sanitized() {
#ifdef ADJOINT_HOSTILE_SANITIZED
    return true;
#else
    return false;
#endif
}

std::vector<Outcome> run_sandboxed(const std::vector<Case>& cases, const std::string& dir,
                                   const SandboxOptions& options) {
    std::vector<Outcome> outcomes(cases.size());
    std::size_t next = 0;
    while (next < cases.size()) {
        int fds[2];
        if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
        const pid_t pid = fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            close(fds[0]);
            child(cases, next, dir, options, fds[1]);
        }
        close(fds[1]);
        std::string text;
        char buffer[1 << 16];
        for (ssize_t n = 0; (n = read(fds[0], buffer, sizeof buffer)) != 0;) {
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) break;
            text.append(buffer, static_cast<std::size_t>(n));
        }
        close(fds[0]);
        int status = 0;
        rusage usage{};
        while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {}
        // The outcomes of the cases the child finished.
        std::istringstream lines(text);
        std::string line;
        std::size_t done = next;
        while (std::getline(lines, line)) {
            std::istringstream fields(line);
            std::size_t i = 0;
            int loaded = 0;
            long peak = 0;
            fields >> i >> loaded >> peak;
            fields.get();  // the tab before the failure text
            std::getline(fields, outcomes.at(i).failure);
            outcomes[i].loaded = loaded != 0;
            outcomes[i].peak_kb = peak;
            done = i + 1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) break;
        // The child died in case `done`: a crash, or SIGALRM for a case that hung.
        if (done < cases.size()) {
            outcomes[done].failure =
                WIFSIGNALED(status)
                    ? fmt::format("the child died of signal {} ({}){}", WTERMSIG(status), strsignal(WTERMSIG(status)),
                                  WTERMSIG(status) == SIGALRM ? ": the case hung" : "")
                    : fmt::format("the child exited with status {}", WEXITSTATUS(status));
            outcomes[done].peak_kb = usage.ru_maxrss;
        }
        next = done + 1;
    }
    return outcomes;
}

void Tally::add(const std::vector<Case>& cases, const std::vector<Outcome>& outcomes) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        const Outcome& o = outcomes[i];
        Counts& n = categories_[c.category];
        ++n.cases;
        n.loaded += o.loaded ? 1 : 0;
        if (!o.failure.empty()) {
            ++n.failures;
            failures_.push_back(fmt::format("[{}] {}: {}", c.category, c.label, o.failure));
        }
        if (o.peak_kb > worst_kb_) {
            worst_kb_ = o.peak_kb;
            worst_case_ = fmt::format("[{}] {}", c.category, c.label);
        }
    }
}

std::size_t Tally::cases() const {
    std::size_t n = 0;
    for (const auto& [name, counts] : categories_) n += counts.cases;
    return n;
}

std::string Tally::summary() const {
    std::string s;
    for (const auto& [name, n] : categories_)
        s += fmt::format("  {:<52} {:>5} cases, {:>4} loaded as valid, {} failed\n", name, n.cases, n.loaded,
                         n.failures);
    s += fmt::format("  {} cases; worst peak RSS {:.1f} MB, in {}", cases(), static_cast<double>(worst_kb_) / 1024,
                     worst_case_);
    return s;
}

}  // namespace adjoint::hostile
