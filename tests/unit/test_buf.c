// SPDX-License-Identifier: MIT
/* Unit tests of the capped growable buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/buf.h"
#include "check.h"

static void test_empty(void)
{
	struct rtk_buf b;
	size_t len = 99;
	char *p;

	rtk_buf_init(&b, 10);
	CHECK(b.data == NULL);
	CHECK_EQ_INT(b.len, 0);
	rtk_buf_reset(&b); /* no data yet: no write */
	CHECK(b.data == NULL);
	/* Detaching an empty buffer gives "" (a string the caller frees), never NULL. */
	p = rtk_buf_detach(&b, &len);
	CHECK_EQ_STR(p, "");
	CHECK_EQ_INT(len, 0);
	free(p);
	rtk_buf_release(&b);
}

static void test_append_terminates(void)
{
	struct rtk_buf b;

	rtk_buf_init(&b, 1000);
	CHECK_EQ_INT(rtk_buf_append(&b, "abc", 3), 0);
	CHECK_EQ_INT(b.len, 3);
	CHECK_EQ_STR(b.data, "abc");
	CHECK_EQ_INT(rtk_buf_append(&b, "", 0), 0);
	CHECK_EQ_INT(rtk_buf_puts(&b, "de"), 0);
	CHECK_EQ_STR(b.data, "abcde");
	/* Bytes with a NUL inside are kept as bytes. */
	CHECK_EQ_INT(rtk_buf_append(&b, "x\0y", 3), 0);
	CHECK_EQ_INT(b.len, 8);
	CHECK(memcmp(b.data, "abcdex\0y", 9) == 0);
	rtk_buf_reset(&b);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_STR(b.data, "");
	rtk_buf_release(&b);
	CHECK(b.data == NULL);
}

/* Growing past the first allocation many times keeps every byte. */
static void test_grows(void)
{
	struct rtk_buf b;
	size_t i;
	int ok = 1;

	rtk_buf_init(&b, 1 << 20);
	for (i = 0; i < 10000; i++)
		ok &= rtk_buf_append(&b, &"0123456789"[i % 10], 1) == 0;
	CHECK(ok);
	CHECK_EQ_INT(b.len, 10000);
	CHECK(b.cap > b.len);
	for (i = 0; i < 10000; i++)
		ok &= b.data[i] == "0123456789"[i % 10];
	CHECK(ok);
	CHECK_EQ_INT(b.data[10000], '\0');
	rtk_buf_release(&b);
}

/* The cap: exactly max fits; one more byte is -EFBIG and changes nothing. */
static void test_cap(void)
{
	struct rtk_buf b;

	rtk_buf_init(&b, 5);
	CHECK_EQ_INT(rtk_buf_append(&b, "abcdef", 6), -EFBIG);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(rtk_buf_append(&b, "abc", 3), 0);
	CHECK_EQ_INT(rtk_buf_puts(&b, "def"), -EFBIG);
	CHECK_EQ_STR(b.data, "abc");
	CHECK_EQ_INT(rtk_buf_puts(&b, "de"), 0);
	CHECK_EQ_STR(b.data, "abcde");
	CHECK_EQ_INT(rtk_buf_append(&b, "f", 1), -EFBIG);
	CHECK_EQ_INT(rtk_buf_printf(&b, "%d", 1), -EFBIG);
	CHECK_EQ_INT(b.len, 5);
	/* A huge n cannot wrap the length check. */
	CHECK_EQ_INT(rtk_buf_append(&b, "x", (size_t)-1), -EFBIG);
	CHECK_EQ_STR(b.data, "abcde");
	rtk_buf_release(&b);
	/* After release the same cap still holds. */
	CHECK_EQ_INT(rtk_buf_append(&b, "abcdef", 6), -EFBIG);
	rtk_buf_release(&b);
}

static void test_printf(void)
{
	struct rtk_buf b;

	rtk_buf_init(&b, 64);
	CHECK_EQ_INT(rtk_buf_printf(&b, "%s/%d", "apps", 42), 0);
	CHECK_EQ_INT(rtk_buf_printf(&b, "?%s", "page=2"), 0);
	CHECK_EQ_STR(b.data, "apps/42?page=2");
	CHECK_EQ_INT(b.len, strlen("apps/42?page=2"));
	CHECK_EQ_INT(rtk_buf_printf(&b, "%0100d", 0), -EFBIG);
	CHECK_EQ_STR(b.data, "apps/42?page=2");
	rtk_buf_release(&b);
}

static void test_detach(void)
{
	struct rtk_buf b;
	size_t len = 0;
	char *p;

	rtk_buf_init(&b, 64);
	CHECK_EQ_INT(rtk_buf_puts(&b, "hello"), 0);
	p = rtk_buf_detach(&b, &len);
	CHECK_EQ_STR(p, "hello");
	CHECK_EQ_INT(len, 5);
	/* The buffer is empty and usable again; the detached bytes are the caller's. */
	CHECK(b.data == NULL);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(rtk_buf_puts(&b, "x"), 0);
	CHECK_EQ_STR(b.data, "x");
	CHECK_EQ_STR(p, "hello");
	free(p);
	rtk_buf_release(&b);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_append_terminates);
	RUN(test_grows);
	RUN(test_cap);
	RUN(test_printf);
	RUN(test_detach);
	return check_summary();
}
