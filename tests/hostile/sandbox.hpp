// Runs hostile-input cases in forked children: under an address-space limit (so a reader
// that allocates what the input cannot justify fails), measuring after each case the
// child's peak RSS since its fork (what a reader touches, at most), with an alarm (so a reader that blocks fails),
// optionally as another user; a crash is reported against the case that caused it and the remaining cases go on in a
// fresh child.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace adjoint::hostile {

// What one case did: `failure` is empty when every expectation held; `loaded` when the
// input was read successfully (a corruption that still makes a valid file).
struct Result {
    std::string failure;
    bool loaded = false;
};

struct Case {
    std::string category;  // cases are counted per category
    std::string label;     // which case: "offset 17", "bit 3 of byte 5"
    // Makes the input (at `path`, a fresh name in the run's folder, or elsewhere), loads
    // it and checks the outcome. Runs in the child.
    std::function<Result(const std::string& path)> run;
};

// Whether this build has a sanitizer that needs a huge address space (ASan, TSan).
bool sanitized();

struct SandboxOptions {
    unsigned long long address_space = 3ULL << 30;  // RLIMIT_AS of the children (not under sanitizers)
    unsigned case_seconds = 60;                     // alarm per case: a case that hangs fails
    bool as_nobody = false;                         // when root: run the cases as uid and gid 65534
};

struct Outcome {
    std::string failure;  // also a crash or a hang of the case
    bool loaded = false;
    long peak_kb = 0;  // the child's peak RSS since its fork, after this case and those before it in that child (kB)
};

// Runs the cases, in order, in forked children, with inputs in `dir`; one outcome each.
std::vector<Outcome> run_sandboxed(const std::vector<Case>& cases, const std::string& dir,
                                   const SandboxOptions& options = {});

// Outcomes gathered over runs: per category, the cases, failures and successful loads;
// the worst peak RSS and the case that reached it; the failures' descriptions.
class Tally {
public:
    void add(const std::vector<Case>& cases, const std::vector<Outcome>& outcomes);
    // One line per category and the worst peak RSS, for MESSAGE.
    std::string summary() const;
    const std::vector<std::string>& failures() const { return failures_; }
    long worst_kb() const { return worst_kb_; }
    std::size_t cases() const;

private:
    struct Counts {
        std::size_t cases = 0, failures = 0, loaded = 0;
    };
    std::map<std::string, Counts> categories_;
    std::vector<std::string> failures_;
    long worst_kb_ = 0;
    std::string worst_case_;
};

}  // namespace adjoint::hostile
