// A data race between two chunks of a tbb::parallel_for, which the ThreadSanitizer leg
// (scripts/sanitize) must report: the leg's oneTBB is instrumented, so TSan sees what TBB
// orders and what it does not. The two chunks first wait for each other, so they surely
// run on two threads at once; then both write `shared`, unordered.
#include <atomic>
#include <cstdio>
#include <thread>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

int main() {
    int shared = 0;
    std::atomic<int> arrived{0};
    tbb::task_arena(2).execute([&] {
        tbb::parallel_for(
            0, 2,
            [&](int i) {
                ++arrived;
                while (arrived < 2) std::this_thread::yield();
                shared = i;
            },
            tbb::simple_partitioner{});
    });
    std::printf("the race went unnoticed: %d\n", shared);
    return 0;
}
