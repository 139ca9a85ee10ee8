// SPDX-License-Identifier: MIT
/* Unit tests of the redactor, the one place the token is taken out of text. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rtkfs/log.h"
#include "check.h"

#define TOKEN "sekrit-0123456789-abcdefghij-TOKEN"

static void test_no_secret_no_change(void)
{
	char s[64] = "sekrit-0123456789-abcdefghij-TOKEN";

	rtk_log_set_secret(NULL);
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, TOKEN);
	rtk_log_set_secret("");
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, TOKEN);
}

static void test_whole_occurrences(void)
{
	char s[128] = "a " TOKEN " b " TOKEN TOKEN "!";

	rtk_log_set_secret(TOKEN);
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "a <redacted> b <redacted><redacted>!");
	/* Not cut (room left): a token-like tail stays. */
	strcpy(s, "ends with sekrit-01");
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "ends with sekrit-01");
	rtk_log_set_secret(NULL);
}

/* Like snprintf(s, sz, "%s", src): src cut to fit. */
static void fill(char *s, size_t sz, const char *src)
{
	size_t n = strlen(src) < sz - 1 ? strlen(src) : sz - 1;

	memcpy(s, src, n);
	s[n] = '\0';
}

/* A string that filled its buffer may have been cut inside the token: drop that prefix. */
static void test_cut_tail(void)
{
	char s[16];

	rtk_log_set_secret(TOKEN);
	fill(s, sizeof(s), "abc " TOKEN); /* "abc sekrit-0123" */
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "abc ");
	/* Cut, but the tail is not the token's beginning: kept. */
	fill(s, sizeof(s), "0123456789abcdefghij");
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "0123456789abcde");
	/* One char of the token at the very end. */
	fill(s, sizeof(s), "0123456789abcds");
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "0123456789abcd");
	rtk_log_set_secret(NULL);
}

static void test_short_secret_masked(void)
{
	char s[32] = "x abc y abc";

	rtk_log_set_secret("abc");
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "x *** y ***");
	rtk_log_set_secret(NULL);
}

/* The buffer is always terminated within sz, even when the caller's was not. */
static void test_unterminated(void)
{
	char s[8];

	memset(s, 'x', sizeof(s));
	rtk_log_set_secret(TOKEN);
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_INT(strlen(s), 7);
	rtk_log_redact(s, 0); /* nothing to do, no write */
	rtk_log_set_secret(NULL);
}

/* drop forgets only the pointer that is registered. */
static void test_drop(void)
{
	static const char other[] = "other-secret-value";
	char s[64];

	rtk_log_set_secret(TOKEN);
	rtk_log_drop_secret(other);
	strcpy(s, TOKEN);
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, "<redacted>");
	rtk_log_drop_secret(TOKEN);
	strcpy(s, TOKEN);
	rtk_log_redact(s, sizeof(s));
	CHECK_EQ_STR(s, TOKEN);
}

/* The logger's own lines go through the redactor: a line on stderr never holds the token. */
static void test_log_line_redacted(void)
{
	char out[2048];
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	REQUIRE(f && saved >= 0);
	rtk_log_init(RTK_LOG_INFO, false);
	rtk_log_set_secret(TOKEN);
	fflush(stderr);
	dup2(fileno(f), 2);
	rtk_warn("server said '%s'", TOKEN);
	rtk_warn("%01000d%s", 0, TOKEN); /* cut by the 1024-byte line inside the token */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	CHECK(strstr(out, "server said '<redacted>'"));
	CHECK(!strstr(out, "sekrit"));
	rtk_log_set_secret(NULL);
}

int main(void)
{
	RUN(test_no_secret_no_change);
	RUN(test_whole_occurrences);
	RUN(test_cut_tail);
	RUN(test_short_secret_masked);
	RUN(test_unterminated);
	RUN(test_drop);
	RUN(test_log_line_redacted);
	return check_summary();
}
