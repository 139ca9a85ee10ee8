/* SPDX-License-Identifier: MIT */
/* transitional: removed at merge */
/*
 * model was split into json, obj, listing, envelope and value; this header only keeps the
 * old names compiling in files outside this branch's scope (tree.c).
 */
#ifndef RTKFS_MODEL_H
#define RTKFS_MODEL_H

#include "rtkfs/envelope.h"
#include "rtkfs/json.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"
#include "rtkfs/value.h"

#define RTK_MODEL_MAX_DEPTH RTK_JSON_MAX_DEPTH
#define RTK_MODEL_MAX_OBJECTS RTK_LISTING_MAX_OBJECTS
#define rtk_model_parse_page rtk_envelope_parse_page
#define rtk_model_parse_object rtk_envelope_parse_object
#define rtk_model_error_message rtk_envelope_error_message
#define rtk_model_parse_verify rtk_envelope_parse_verify
#define rtk_model_patch_body rtk_value_patch_body
#define rtk_model_put_body rtk_value_put_body
#define rtk_model_event_is_known rtk_value_event_is_known
#define rtk_model_url_is_valid rtk_value_url_is_valid

#endif
