/* SPDX-License-Identifier: MIT */
/*
 * attr: the attributes (struct stat) of the nodes of the tree (DESIGN §2 file attributes):
 * directories 0755, read-write fields 0644, read-only ones 0444 (nothing writable on a
 * read-only mount), exact sizes, the object's updated_at (else created_at, else the mount
 * time) as mtime, st_nlink 1, the mounting user as owner.
 */
#ifndef RTKFS_ATTR_H
#define RTKFS_ATTR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "rtkfs/kind.h"

struct rtk_obj;

/* The attributes of an inode and how long the kernel may keep them (and the entry). */
struct rtk_attr {
	struct stat st;
	bool volatile_attr; /* the kernel must not cache this entry or its attributes */
};

/* What every attribute of a mount shares. */
struct rtk_attr_ctx {
	uid_t uid;
	gid_t gid;
	bool ro;
	struct timespec mounted;
};

/* A directory. */
void rtk_attr_dir(const struct rtk_attr_ctx *c, uint64_t ino, struct timespec mtime,
		  struct rtk_attr *out);

/* The file of field f of object o. */
void rtk_attr_field(const struct rtk_attr_ctx *c, uint64_t ino, const struct rtk_obj *o,
		    enum rtk_field f, struct rtk_attr *out);

/* A file that is not a field (control files, files being created): never cached. */
void rtk_attr_volatile_file(const struct rtk_attr_ctx *c, uint64_t ino, mode_t perm,
			    size_t size, struct rtk_attr *out);

/* The mtime of an object's directory and files. */
struct timespec rtk_attr_obj_time(const struct rtk_attr_ctx *c, const struct rtk_obj *o);

/* The wall clock now. */
struct timespec rtk_attr_now(void);

#endif
