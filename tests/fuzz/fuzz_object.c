// SPDX-License-Identifier: MIT
/* A single-object body, an error body and a verify body: all from the same bytes. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/obj.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rtk_log_init(RTK_LOG_ERR, false);
	return 0;
}

static void check_message(const char *body, size_t len, size_t outsz)
{
	char out[512];
	size_t n, i;
	int err;

	memset(out, 'X', sizeof(out));
	err = rtk_envelope_error_message(body, len, out, outsz);
	FUZZ_ASSERT(err == 0 || err == -ENOENT);
	n = strlen(out);
	FUZZ_ASSERT(n < outsz);
	FUZZ_ASSERT((err == 0) == (n > 0));
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(out[i] >= 0x20 && out[i] < 0x7f);
	/* Nothing written past the NUL's place. */
	for (i = n + 1; i < outsz && i < sizeof(out); i++)
		(void)out[i];
	if (outsz < sizeof(out))
		FUZZ_ASSERT(out[outsz] == 'X');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	int k, err;

	for (k = 0; k < RTK_K__N; k++) {
		struct rtk_obj *o = NULL;

		err = rtk_envelope_parse_object((enum rtk_kind)k, body, size, &o);
		FUZZ_ASSERT(err == 0 || err == -EPROTO || err == -ENOMEM);
		FUZZ_ASSERT((err == 0) == (o != NULL));
		if (o) {
			size_t len;
			int f;

			FUZZ_ASSERT(rtk_obj_kind(o) == (enum rtk_kind)k);
			FUZZ_ASSERT(!rtk_obj_is_bare(o));
			fuzz_touch(rtk_obj_id(o, &len), len + 1);
			for (f = 0; f < RTK_F__N; f++) {
				const char *p = rtk_obj_field(o, (enum rtk_field)f, &len);

				if (p)
					fuzz_touch(p, len);
			}
			rtk_obj_unref(o);
		}
	}
	check_message(body, size, 1);
	check_message(body, size, 2);
	check_message(body, size, 40);
	check_message(body, size, 512);
	err = rtk_envelope_parse_verify(body, size);
	FUZZ_ASSERT(err == 0 || err == -EACCES || err == -EPROTO);
	return 0;
}
