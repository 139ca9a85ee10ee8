// SPDX-License-Identifier: MIT
/* SHA-256 against the FIPS 180-4 / NIST CAVP examples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rtkfs/sha256.h"

static void hex(const unsigned char *d, char *out)
{
	int i;

	for (i = 0; i < RTK_SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* The digest of p[0..n) fed in chunks of step bytes. */
static void digest(const void *p, size_t n, size_t step, char *out)
{
	const unsigned char *q = p;
	unsigned char d[RTK_SHA256_LEN];
	struct rtk_sha256 s;
	size_t off, k;

	rtk_sha256_init(&s);
	for (off = 0; off < n; off += k) {
		k = n - off < step ? n - off : step;
		rtk_sha256_update(&s, q + off, k);
	}
	rtk_sha256_final(&s, d);
	hex(d, out);
}

static void test_vectors(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
	     "klmnopqrlmnopqrsmnopqrstnopqrstu",
	     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	};
	char out[2 * RTK_SHA256_LEN + 1];
	size_t i, step;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (step = 1; step <= 65; step += 7) {
			digest(v[i].in, strlen(v[i].in), step, out);
			CHECK_EQ_STR(out, v[i].out);
		}
}

/* One million 'a' (FIPS 180-2 appendix B.3), and the 55/56/64-byte padding edges. */
static void test_long_and_edges(void)
{
	char out[2 * RTK_SHA256_LEN + 1];
	char *m = malloc(1000000);

	CHECK(m != NULL);
	if (!m)
		return;
	memset(m, 'a', 1000000);
	digest(m, 1000000, 4096, out);
	CHECK_EQ_STR(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	digest(m, 55, 55, out);
	CHECK_EQ_STR(out, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	digest(m, 56, 3, out);
	CHECK_EQ_STR(out, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	digest(m, 64, 64, out);
	CHECK_EQ_STR(out, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
	free(m);
}

int main(void)
{
	RUN(test_vectors);
	RUN(test_long_and_edges);
	return check_summary();
}
