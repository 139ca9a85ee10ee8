// SPDX-License-Identifier: MIT
#include <string.h>

#include "rtkfs/attr.h"
#include "rtkfs/obj.h"
#include "rtkfs/path.h"

static void fill_common(const struct rtk_attr_ctx *c, struct stat *st, uint64_t ino,
			struct timespec mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_blksize = 4096;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = mtime;
}

void rtk_attr_dir(const struct rtk_attr_ctx *c, uint64_t ino, struct timespec mtime,
		  struct rtk_attr *out)
{
	fill_common(c, &out->st, ino, mtime);
	out->st.st_mode = S_IFDIR | 0755;
	out->volatile_attr = false;
}

struct timespec rtk_attr_obj_time(const struct rtk_attr_ctx *c, const struct rtk_obj *o)
{
	struct timespec ts = rtk_obj_mtime(o);

	return ts.tv_sec || ts.tv_nsec ? ts : c->mounted;
}

void rtk_attr_field(const struct rtk_attr_ctx *c, uint64_t ino, const struct rtk_obj *o,
		    enum rtk_field f, struct rtk_attr *out)
{
	bool rw = !c->ro && rtk_path_field_is_writable(rtk_obj_kind(o), f);
	size_t len = 0;

	rtk_obj_field(o, f, &len);
	fill_common(c, &out->st, ino, rtk_attr_obj_time(c, o));
	out->st.st_mode = S_IFREG | (rw ? 0644 : 0444);
	out->st.st_size = (off_t)len;
	out->st.st_blocks = (blkcnt_t)((len + 511) / 512);
	out->volatile_attr = false;
}

void rtk_attr_volatile_file(const struct rtk_attr_ctx *c, uint64_t ino, mode_t perm,
			    size_t size, struct rtk_attr *out)
{
	fill_common(c, &out->st, ino, rtk_attr_now());
	out->st.st_mode = S_IFREG | perm;
	out->st.st_size = (off_t)size;
	out->volatile_attr = true;
}

struct timespec rtk_attr_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}
