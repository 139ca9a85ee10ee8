/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: a check that crashes (so libFuzzer reports it). */
#ifndef RTKFS_FUZZ_H
#define RTKFS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#expr);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every byte so ASan sees any bad pointer or length. */
static inline unsigned fuzz_touch(const char *p, size_t n)
{
	unsigned s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += (unsigned char)p[i];
	return s;
}

#endif
