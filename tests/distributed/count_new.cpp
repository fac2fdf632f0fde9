// operator new, counted: what the library's C++ allocates (Open MPI's own C mallocs are
// not), for ranks.cpp's check that a warm distributed training step allocates nothing.
// A file of its own, so that no caller inlines the replacement.
#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> calls{0};
}  // namespace

long operator_new_calls() { return calls.load(std::memory_order_relaxed); }

void* operator new(std::size_t n) {
    calls.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
