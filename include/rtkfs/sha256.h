/* SPDX-License-Identifier: MIT */
/*
 * sha256: SHA-256 (FIPS 180-4), for the names of shared keys (a hash of the API token, never
 * the token; see shared.h). Not for anything where speed matters.
 *
 *   struct rtk_sha256 s; rtk_sha256_init(&s); rtk_sha256_update(&s, p, n); rtk_sha256_final(&s,
 * out);
 */
#ifndef RTKFS_SHA256_H
#define RTKFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RTK_SHA256_LEN 32

struct rtk_sha256 {
	uint32_t h[8];
	uint64_t total; /* bytes hashed so far */
	unsigned char block[64];
	size_t used; /* bytes in block */
};

void rtk_sha256_init(struct rtk_sha256 *s);
void rtk_sha256_update(struct rtk_sha256 *s, const void *p, size_t n);
/* Write the digest to out; s is wiped (it may have seen a secret). */
void rtk_sha256_final(struct rtk_sha256 *s, unsigned char out[RTK_SHA256_LEN]);

#endif
