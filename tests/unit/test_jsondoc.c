// SPDX-License-Identifier: MIT
/* jsondoc: complete, incomplete (a prefix of something valid) and invalid documents. */
#include <string.h>

#include "check.h"
#include "rtkfs/jsondoc.h"

static enum rtk_jsondoc st(const char *s)
{
	return rtk_jsondoc_state(s, strlen(s));
}

static void test_complete(void)
{
	CHECK_EQ_INT(st("{}"), RTK_JSONDOC_COMPLETE);
	CHECK_EQ_INT(st(" {\"a\": [1, -2.5e3, true, false, null, \"x\\\"y\\u00e9\"]}\n"),
		     RTK_JSONDOC_COMPLETE);
	CHECK_EQ_INT(st("{\"a\": {\"b\": []}, \"c\": {}}\r\n\t "), RTK_JSONDOC_COMPLETE);
	/* JSON, though no value may hold it: the value's check says why (a NUL). */
	CHECK_EQ_INT(st("{\"a\": \"\\u0000\"}"), RTK_JSONDOC_COMPLETE);
}

static void test_every_prefix_is_incomplete(void)
{
	static const char doc[] = "{\"name\": \"a\\u00e9\\\"b\", \"n\": -12.5e+3, \"ok\": true, "
				  "\"no\": null, \"events\": [\"meeting.started\", []]}";
	size_t i;

	for (i = 0; i < strlen(doc); i++)
		CHECK_EQ_INT(rtk_jsondoc_state(doc, i), RTK_JSONDOC_INCOMPLETE);
	CHECK_EQ_INT(rtk_jsondoc_state(doc, strlen(doc)), RTK_JSONDOC_COMPLETE);
	CHECK_EQ_INT(st(""), RTK_JSONDOC_INCOMPLETE);
	CHECK_EQ_INT(st(" \n"), RTK_JSONDOC_INCOMPLETE);
}

static void test_invalid(void)
{
	static const char *const bad[] = {
	    "x",
	    "[1]",
	    "\"s\"",
	    "1",
	    "{\"a\" 1}",
	    "{\"a\": x",
	    "{\"a\": tru e}",
	    "{1: 2}",
	    "{\"a\": 1,}",
	    "{\"a\": [1,]}",
	    "{\"a\": 1]",
	    "{\"a\": [1}",
	    "{} {}",
	    "{}x",
	    "{\"a\": \"\\x\"}",
	    "{\"a\": \"\\u12g4\"}",
	    "{\"a\":: 1}",
	    "{\"a\": 1 2}",
	    "{,}",
	    "{\"a\": \"tab\there\"}",
	    "{\"a\": nul}x",
	    "{\"a\": [1- ,2]}",
	    "{\"a\": 01}",
	    "{\"a\": 1.}",
	    "{\"a\": 1.e3}",
	    "{\"a\": -}",
	    "{\"a\": 1e}",
	    "{\"a\": .5}",
	    "{\"a\": +1}",
	};
	char deep[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(st(bad[i]), RTK_JSONDOC_INVALID);
	CHECK_EQ_INT(rtk_jsondoc_state("{\"a\": \"\0\"}", 10), RTK_JSONDOC_INVALID);
	CHECK_EQ_INT(rtk_jsondoc_state("{\0", 2), RTK_JSONDOC_INVALID);
	memset(deep, '[', sizeof(deep));
	memcpy(deep, "{\"a\": ", 6);
	CHECK_EQ_INT(rtk_jsondoc_state(deep, sizeof(deep)), RTK_JSONDOC_INVALID);
	CHECK_EQ_INT(rtk_jsondoc_state(deep, 6 + RTK_JSONDOC_DEPTH_MAX - 1),
		     RTK_JSONDOC_INCOMPLETE);
}

int main(void)
{
	RUN(test_complete);
	RUN(test_every_prefix_is_incomplete);
	RUN(test_invalid);
	return check_summary();
}
