/*
 * harness.c — implementation of the test helpers in harness.h.
 */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "common/philox.h"

int test_failures = 0;
int test_checks = 0;

double tensor_rel_error(const float *a, const float *b, size_t n, double floor) {
    double maxdiff = 0.0, maxref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates as a failure */
        double r = fabs((double)b[i]);
        if (r > maxref) maxref = r;
    }
    return maxdiff / (maxref > floor ? maxref : floor);
}

int expect_tensor_close(const char *name, const float *a, const float *b, size_t n, double tol) {
    double e = tensor_rel_error(a, b, n, 1e-12);
    int ok = e <= tol;
    test_checks++;
    if (!ok) {
        test_failures++;
        fprintf(stderr, "FAIL %-28s rel error %.3e > tol %.1e\n", name, e, tol);
    } else if (getenv("TEST_VERBOSE")) {
        fprintf(stderr, "ok   %-28s rel error %.3e\n", name, e);
    }
    return ok;
}

int expect_rel_l2(const char *name, const float *a, const float *b, size_t n, double tol) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    double e = den > 0 ? sqrt(num / den) : sqrt(num);
    int ok = e <= tol; /* NaN fails */
    test_checks++;
    if (!ok) {
        test_failures++;
        fprintf(stderr, "FAIL %-28s relative L2 error %.3e > tol %.1e\n", name, e, tol);
    } else if (getenv("TEST_VERBOSE")) {
        fprintf(stderr, "ok   %-28s relative L2 error %.3e\n", name, e);
    }
    return ok;
}

void fill_uniform(float *x, size_t n, uint64_t seed, uint32_t stream, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_u01(rng_word(seed, RNG_SYNTHETIC, stream, 0, i));
}

int test_summary(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures, test_checks);
        return 1;
    }
    if (test_checks == 0) {
        fprintf(stderr, "%s: no checks ran: FAILED\n", name);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, test_checks);
    return 0;
}

int test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    return TEST_SKIPPED;
}
