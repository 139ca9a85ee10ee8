// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rtkfs/api.h"
#include "rtkfs/envelope.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"
#include "rtkfs/log.h"
#include "rtkfs/path.h"
#include "rtkfs/token.h"

#define BODY_MAX (1u << 20)

static void get(struct rtk_api *api, const char *path, const char *query,
		const struct rtk_op *op, struct rtk_api_resp *resp, int *err)
{
	struct rtk_api_req req = {
		.method = "GET",
		.path = path,
		.query = query,
		.deadline_ns = op->deadline_ns,
		.interrupted = op->interrupted,
		.interrupted_ctx = op->interrupted_ctx,
		.quiet = true,
	};

	rtk_api_resp_init(resp, BODY_MAX);
	*err = rtk_api_call(api, &req, resp);
}

static int verify_at(struct rtk_api *api, const char *path, const struct rtk_op *op, char *msg,
		     size_t msgsz)
{
	struct rtk_api_resp resp;
	char server[200];
	int err;

	get(api, path, NULL, op, &resp, &err);
	if (!err)
		err = rtk_envelope_parse_verify(resp.body.data, resp.body.len);
	if (err) {
		if (rtk_envelope_error_message(resp.body.data, resp.body.len, server,
					    sizeof(server)) != 0)
			snprintf(server, sizeof(server), "%s", strerror(-err));
		else
			rtk_log_redact(server, sizeof(server));
		if (resp.status)
			snprintf(msg, msgsz, "%s%s: HTTP %ld: %s", rtk_api_base_url(api), path,
				 resp.status, server);
		else
			snprintf(msg, msgsz, "%s%s: %s", rtk_api_base_url(api), path,
				 strerror(-err));
	}
	rtk_api_resp_release(&resp);
	return err;
}

/* The first account GET /accounts lists for this token, or "" (failures stay quiet). */
static void first_listed_account(struct rtk_api *api, const struct rtk_op *op, char *out,
				 size_t outsz)
{
	struct rtk_page page = {.page = 1, .per_page = 50};
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	struct rtk_listing *l = NULL;
	struct rtk_api_resp resp;
	int err;

	out[0] = '\0';
	if (!b)
		return;
	get(api, "/accounts", "page=1&per_page=50", op, &resp, &err);
	if (!err)
		err = rtk_envelope_parse_page(b, resp.body.data, resp.body.len, &page);
	rtk_api_resp_release(&resp);
	if (err) {
		rtk_listing_builder_free(b);
		return;
	}
	l = rtk_listing_builder_finish(b);
	if (l && rtk_listing_count(l))
		snprintf(out, outsz, "%s", rtk_obj_id(rtk_listing_at(l, 0), NULL));
	rtk_listing_unref(l);
}

int rtk_token_verify(struct rtk_api *api, const char *const *accounts, size_t naccounts,
		     const struct rtk_op *op, char *msg, size_t msgsz)
{
	char path[64 + 3 * RTK_ID_MAX], enc[3 * RTK_ID_MAX + 1], first[RTK_ID_MAX + 1] = "";
	int err;

	err = verify_at(api, "/user/tokens/verify", op, msg, msgsz);
	if (err != -EACCES)
		return err;
	/* Perhaps an account-owned token: those verify under their account. */
	if (naccounts)
		snprintf(first, sizeof(first), "%s", accounts[0]);
	else
		first_listed_account(api, op, first, sizeof(first));
	if (!first[0] || rtk_path_encode(first, strlen(first), enc, sizeof(enc)) < 0)
		return -EACCES;
	snprintf(path, sizeof(path), "/accounts/%s/tokens/verify", enc);
	return verify_at(api, path, op, msg, msgsz) == 0 ? 0 : -EACCES;
}
