/* SPDX-License-Identifier: MIT */
/*
 * check: the whole unit-test "framework" (no download, no dependency).
 *
 *   static void test_something(void) { CHECK(x == 1); CHECK_EQ_INT(f(), -ENOENT); }
 *   int main(void) { RUN(test_something); return check_summary(); }
 *
 * A failed check prints file:line and the expression and marks the test failed, then the
 * test goes on (so one run shows every failure). check_summary prints "N passed, N failed"
 * per executable and returns the exit status.
 */
#ifndef RTKFS_TEST_CHECK_H
#define RTKFS_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_here;
static int check_tests_passed, check_tests_failed;

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);    \
			check_failed_here = 1;                                                     \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, \
				__LINE__, #a, #b, check_a_, check_b_);                             \
			check_failed_here = 1;                                                     \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                   \
			fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" != \"%s\")\n",       \
				__FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",        \
				check_b_ ? check_b_ : "(null)");                                   \
			check_failed_here = 1;                                                     \
		}                                                                                  \
	} while (0)

/* Compare len bytes at a with the NUL-terminated string b. */
#define CHECK_EQ_MEM(a, alen, b)                                                                   \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		size_t check_n_ = (alen);                                                          \
		if (!check_a_ || check_n_ != strlen(check_b_) ||                                   \
		    memcmp(check_a_, check_b_, check_n_) != 0) {                                   \
			fprintf(stderr, "%s:%d: check failed: %s == \"%s\" (got \"%.*s\")\n",       \
				__FILE__, __LINE__, #a, check_b_, check_a_ ? (int)check_n_ : 6,    \
				check_a_ ? check_a_ : "(null)");                                   \
			check_failed_here = 1;                                                     \
		}                                                                                  \
	} while (0)

/* Setup that must work for the test to mean anything: its failure fails the test (and ends
 * it, since what follows would only crash or pass vacuously). */
/* Like CHECK, and the test ends here when it fails. expr is evaluated once. */
#define REQUIRE(expr)                                                                              \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);    \
			check_failed_here = 1;                                                     \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		check_failed_here = 0;                                                             \
		fn();                                                                              \
		if (check_failed_here) {                                                           \
			check_tests_failed++;                                                      \
			fprintf(stderr, "FAIL %s\n", #fn);                                         \
		} else {                                                                           \
			check_tests_passed++;                                                      \
		}                                                                                  \
	} while (0)

static inline int check_summary(void)
{
	printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
	return check_tests_failed ? 1 : 0;
}

#endif
