/* SPDX-License-Identifier: MIT */
/*
 * kind: the shared vocabulary of the tree: the kinds of API objects and their fields.
 * A header of enums only, so that path (the namespace grammar) and the JSON side (obj,
 * listing, envelope, value) can speak of "the url field of a webhook" alike.
 */
#ifndef RTKFS_KIND_H
#define RTKFS_KIND_H

enum rtk_kind {
	RTK_K_ACCOUNT,
	RTK_K_APP,
	RTK_K_WEBHOOK,
	RTK_K__N,
};

enum rtk_field {
	RTK_F_ID,
	RTK_F_NAME,
	RTK_F_URL,
	RTK_F_ENABLED,
	RTK_F_EVENTS,
	RTK_F_CREATED_AT,
	RTK_F_UPDATED_AT,
	RTK_F_JSON, /* <kind>.json: the whole object */
	RTK_F__N,
};

/* Longest id the API allows for each kind (account ids are 32, app and webhook ids UUIDs). */
#define RTK_ACCOUNT_ID_MAX 32
#define RTK_APP_ID_MAX 64
#define RTK_WEBHOOK_ID_MAX 64
#define RTK_ID_MAX 64

#endif
