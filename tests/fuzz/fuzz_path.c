// SPDX-License-Identifier: MIT
/* Mount paths and names as the kernel might hand them over, and ids to encode. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "rtkfs/path.h"

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void check_id(struct rtk_path_id id, enum rtk_kind k)
{
	FUZZ_ASSERT(rtk_path_id_is_safe(id.p, id.n, rtk_path_id_max(k)));
}

static void check_encode(const char *id, size_t len, size_t outsz)
{
	char out[1024];
	size_t i, o = 0;
	int n;

	n = rtk_path_encode(id, len, out, outsz);
	if (n < 0) {
		FUZZ_ASSERT(n == -ENAMETOOLONG);
		FUZZ_ASSERT(outsz == 0 || out[0] == '\0');
		return;
	}
	FUZZ_ASSERT((size_t)n < outsz && out[n] == '\0' && strlen(out) == (size_t)n);
	/* Decode it again: the same bytes. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (is_unreserved(c)) {
			FUZZ_ASSERT(out[o] == (char)c);
			o++;
		} else {
			unsigned v;

			FUZZ_ASSERT(out[o] == '%');
			FUZZ_ASSERT(sscanf(out + o + 1, "%2X", &v) == 1 && v == c);
			o += 3;
		}
	}
	FUZZ_ASSERT(o == (size_t)n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtk_path p;
	struct rtk_path_step s;
	char *str;
	int err, k;

	str = malloc(size + 1);
	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';

	err = rtk_path_parse(str, &p);
	FUZZ_ASSERT(err == 0 || err == -ENOENT || err == -ENOTDIR || err == -ENAMETOOLONG);
	if (err == 0) {
		FUZZ_ASSERT(str[0] == '/');
		FUZZ_ASSERT((unsigned)p.step.kind < RTK_N__N);
		if (p.account.n)
			check_id(p.account, RTK_K_ACCOUNT);
		if (p.app.n)
			check_id(p.app, RTK_K_APP);
		if (p.webhook.n)
			check_id(p.webhook, RTK_K_WEBHOOK);
		if (p.step.kind == RTK_N_FIELD) {
			FUZZ_ASSERT(rtk_path_field_name(p.step.obj, p.step.field) != NULL);
			rtk_path_field_is_writable(p.step.obj, p.step.field);
		}
		if (p.step.kind == RTK_N_CTL_FILE)
			FUZZ_ASSERT(rtk_path_ctl_name(p.step.ctl) != NULL);
		if (p.step.kind >= RTK_N_ACCOUNT && p.step.kind != RTK_N_CTL_DIR &&
		    p.step.kind != RTK_N_CTL_FILE)
			FUZZ_ASSERT(p.account.n > 0);
	}
	for (k = 0; k <= RTK_N__N; k++) {
		err = rtk_path_step((enum rtk_node_kind)k, str, &s);
		FUZZ_ASSERT(err == 0 || err == -ENOENT || err == -ENOTDIR || err == -ENAMETOOLONG);
		if (err == 0 &&
		    (s.kind == RTK_N_ACCOUNT || s.kind == RTK_N_APP || s.kind == RTK_N_WEBHOOK))
			FUZZ_ASSERT(rtk_path_id_is_safe(str, strlen(str), rtk_path_id_max(s.obj)));
	}
	rtk_path_id_is_safe((const char *)data, size, 64);
	check_encode((const char *)data, size, size * 3 + 1 < 1024 ? size * 3 + 1 : 1024);
	check_encode((const char *)data, size, size + 1 < 1024 ? size + 1 : 1024);
	check_encode((const char *)data, size, 1);
	free(str);
	return 0;
}
