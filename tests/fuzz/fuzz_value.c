// SPDX-License-Identifier: MIT
/*
 * Values a user writes to a webhook's files: byte 0 picks the field, the rest is what was
 * written. A PUT body that comes out must itself be accepted as a PUT, unchanged.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "rtkfs/buf.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/obj.h"
#include "rtkfs/value.h"

static const char cur_body[] =
    "{\"success\":true,\"data\":{\"id\":\"0d1f069d-43bb-489a-ad8c-7eb95592ba8e\","
    "\"name\":\"All events webhook\",\"url\":\"https://webhook.site/hook\","
    "\"events\":[\"meeting.started\",\"meeting.ended\"],\"enabled\":true,"
    "\"created_at\":\"2022-05-28T07:01:53.075Z\",\"updated_at\":\"2022-05-28T07:01:53.075Z\"}}";

static struct rtk_obj *cur;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rtk_log_init(RTK_LOG_ERR, false);
	if (rtk_envelope_parse_object(RTK_K_WEBHOOK, cur_body, sizeof(cur_body) - 1, &cur))
		abort();
	return 0;
}

static void check_msg(const char *msg, size_t msgsz)
{
	size_t n = strlen(msg);

	FUZZ_ASSERT(n < msgsz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtk_buf body, again;
	enum rtk_field f;
	char msg[96];
	const char *val;
	int err;

	if (size < 1)
		return 0;
	f = (enum rtk_field)(data[0] % (RTK_F__N + 1));
	val = (const char *)data + 1;
	size--;

	rtk_buf_init(&body, 1 << 20);
	err = rtk_value_patch_body(f, val, size, (data[0] & 0x80) ? NULL : cur, &body, msg,
				   sizeof(msg));
	FUZZ_ASSERT(err == 0 || err == 1 || err == -EINVAL || err == -ENOMEM || err == -EFBIG);
	check_msg(msg, sizeof(msg));
	if (err == 0)
		FUZZ_ASSERT(body.len >= 2 && body.data[0] == '{' && body.data[body.len - 1] == '}');
	else
		FUZZ_ASSERT(body.len == 0);
	if (err == 1)
		FUZZ_ASSERT(f == RTK_F_NAME || f == RTK_F_URL || f == RTK_F_ENABLED ||
			    f == RTK_F_EVENTS);
	if (err == -EINVAL)
		FUZZ_ASSERT(msg[0] != '\0');
	/* A NUL in a written string is refused, whatever else the value holds. */
	if ((f == RTK_F_NAME || f == RTK_F_URL || f == RTK_F_EVENTS) && memchr(val, '\0', size))
		FUZZ_ASSERT(err == -EINVAL);
	rtk_buf_reset(&body);

	err = rtk_value_put_body(val, size, &body, msg, sizeof(msg));
	FUZZ_ASSERT(err == 0 || err == -EINVAL || err == -ENOMEM || err == -EFBIG);
	check_msg(msg, sizeof(msg));
	if (err == -EINVAL)
		FUZZ_ASSERT(msg[0] != '\0');
	if (err == 0) {
		/* What we would send is itself a valid webhook.json, and a fixed point. */
		rtk_buf_init(&again, 1 << 20);
		err = rtk_value_put_body(body.data, body.len, &again, msg, sizeof(msg));
		if (err)
			fprintf(stderr, "re-put failed: %s\n", msg);
		FUZZ_ASSERT(err == 0);
		FUZZ_ASSERT(again.len == body.len && memcmp(again.data, body.data, body.len) == 0);
		rtk_buf_release(&again);
	}
	rtk_buf_release(&body);
	return 0;
}
