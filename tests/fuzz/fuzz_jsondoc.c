// SPDX-License-Identifier: MIT
/*
 * Pieces of a JSON document as writes deliver them: the scanner never reads out of bounds,
 * never calls a document complete that cJSON (through value.c) cannot parse, and an
 * invalid prefix stays invalid whatever follows.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "rtkfs/buf.h"
#include "rtkfs/jsondoc.h"
#include "rtkfs/value.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/*
 * A \uD800-\uDFFF escape: JSON's grammar takes it, cJSON refuses a lone one. The scanner then
 * calls the document complete and the write is EINVAL at once, which is right: only the
 * cross-check below does not apply.
 */
static int has_surrogate_escape(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i + 3 < n; i++)
		if (v[i] == '\\' && v[i + 1] == 'u' && (v[i + 2] == 'd' || v[i + 2] == 'D') &&
		    v[i + 3] && strchr("89abcdefABCDEF", v[i + 3]))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data;
	enum rtk_jsondoc prev = RTK_JSONDOC_INCOMPLETE, st;
	struct rtk_buf body;
	char msg[160];
	size_t i;

	if (size > 4096)
		return 0;
	for (i = 0; i <= size; i++) {
		st = rtk_jsondoc_state(v, i);
		if (prev == RTK_JSONDOC_INVALID)
			FUZZ_ASSERT(st == RTK_JSONDOC_INVALID);
		prev = st;
	}
	if (st == RTK_JSONDOC_COMPLETE && !has_surrogate_escape(v, size)) {
		rtk_buf_init(&body, 1 << 20);
		if (rtk_value_put_body(v, size, &body, msg, sizeof(msg)) == -EINVAL)
			FUZZ_ASSERT(strcmp(msg, "webhook.json is not valid JSON") != 0);
		rtk_buf_release(&body);
	}
	return 0;
}
