// C support for the aarch64 kernel checks (scripts/test-arm64) only: it is linked into the test binary, never
// into clipgen. Everything else the Embedded Swift objects need (putchar, exit, posix_memalign, free, memset,
// the stack protector guard, libm's exp/erfc for the accuracy checks) comes from the static aarch64 glibc.
#include <stdint.h>
#include <time.h>

/// Monotonic clock in nanoseconds, for the fast / reference time ratios.
uint64_t clipgen_arm_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
