// A NaN cast to an integer (undefined behaviour), which UndefinedBehaviorSanitizer's
// float-cast-overflow check in the ASan leg (scripts/sanitize) must report.
#include <cmath>
#include <cstdio>

int main() {
    volatile float nan = NAN;
    const int i = static_cast<int>(nan);
    std::printf("the cast went unnoticed: %d\n", i);
    return 0;
}
