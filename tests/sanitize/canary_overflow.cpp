// A heap buffer overflow, which the AddressSanitizer leg (scripts/sanitize) must report.
#include <cstdio>
#include <vector>

int main() {
    std::vector<int> v(4);
    volatile std::size_t i = 4;  // volatile: the compiler cannot see the bug coming
    v.data()[i] = 1;
    std::puts("the overflow went unnoticed");
    return 0;
}
