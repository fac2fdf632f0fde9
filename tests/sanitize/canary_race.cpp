// A data race between two chunks of a tbb::parallel_for, which the ThreadSanitizer leg
// (scripts/sanitize) must report: the leg's oneTBB is instrumented, so TSan sees what TBB
// orders and what it does not. The two chunks first wait for each other, so they surely
// run on two threads at once; then both read and write `shared`, unordered, many times:
// TSan does not promise to see a single pair of racing writes (one such write each went
// unreported in about one run of three), but it sees some of 100,000 every time.
#include <atomic>
#include <cstdio>
#include <thread>

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

int main() {
    // Two threads even on a one-core machine (TBB allows only the cores by default).
    const tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
    volatile int shared = 0;  // volatile: the loop's accesses stay accesses
    std::atomic<int> arrived{0};
    tbb::task_arena(2).execute([&] {
        tbb::parallel_for(
            0, 2,
            [&](int i) {
                ++arrived;
                while (arrived < 2) std::this_thread::yield();
                for (int k = 0; k < 100000; ++k) shared = shared + i + 1;
            },
            tbb::simple_partitioner{});
    });
    std::printf("the race went unnoticed: %d\n", shared);
    return 0;
}
