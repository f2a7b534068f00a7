/*
 * harness.h — a minimal test harness: checks count failures, main() returns
 * non-zero if any failed (or if none ran), so ctest goes red when numbers
 * disagree; test_skip() for what this machine lacks, and nothing else.
 */
#ifndef ALEXNET_TEST_HARNESS_H
#define ALEXNET_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int test_failures;
extern int test_checks;

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        test_checks++;                                                      \
        if (!(cond)) {                                                      \
            test_failures++;                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define EXPECT_NEAR(a, b, tol) \
    EXPECT(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a), (double)(b), (double)(tol))

/* max |a - b| / max(max |b|, floor): the normalised error used to compare tensors. */
double tensor_rel_error(const float *a, const float *b, size_t n, double floor);
/* Checks tensor_rel_error <= tol and prints the tensor's name and error either way when verbose. */
int expect_tensor_close(const char *name, const float *a, const float *b, size_t n, double tol);

/* ||a - b|| / ||b|| <= tol (relative L2 error). */
int expect_rel_l2(const char *name, const float *a, const float *b, size_t n, double tol);

/* Deterministic pseudo-random fill in [lo, hi) from (seed, stream). */
void fill_uniform(float *x, size_t n, uint64_t seed, uint32_t stream, float lo, float hi);

/* Returns the exit status for main(): prints a summary. 1 when a check
 * failed, and also when no check ran at all (a test that compared nothing
 * proves nothing and must not pass). */
int test_summary(const char *name);

/* Exit status for "skipped" (ctest's SKIP_RETURN_CODE). */
#define TEST_SKIPPED 77
/* Prints "SKIP: <why>" and returns TEST_SKIPPED, for main() to return when
 * this machine lacks what the test needs (a GPU, native bf16). Never for a
 * part the build lacks (such tests are not registered) nor for a failure. */
int test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
