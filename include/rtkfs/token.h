/* SPDX-License-Identifier: MIT */
/*
 * token: the check of the API token at mount (DESIGN §4), beside the API client.
 * GET /user/tokens/verify, and for a token the user endpoint rejects,
 * GET /accounts/{id}/tokens/verify with the first account named (or listed by GET /accounts).
 */
#ifndef RTKFS_TOKEN_H
#define RTKFS_TOKEN_H

#include <stddef.h>

#include "rtkfs/op.h"

struct rtk_api;

/*
 * 0 when the API accepted the token; -EACCES when it definitely rejected it (msg says why);
 * any other error means the API could not be asked (msg says why; the caller mounts
 * anyway). accounts: the user-named account ids (may be NULL when naccounts is 0).
 */
int rtk_token_verify(struct rtk_api *api, const char *const *accounts, size_t naccounts,
		     const struct rtk_op *op, char *msg, size_t msgsz);

#endif
