/* SPDX-License-Identifier: MIT */
/*
 * ino: the inode table of the namespace, and what the kernel is told about inodes.
 *
 * Inode numbers are stable for the life of the table: every directory gets a node (kept
 * until the table is freed) with an inode number that is a multiple of RTK_INO_STRIDE; the
 * files of a directory are not nodes, their numbers are the directory's plus 1 + index (a
 * field, or a control file). New files being created in a webhooks directory get numbers in
 * a range of their own (RTK_INO_PENDING_BASE and up). Nodes are found by number and by
 * (parent, name); a node's name and parent never change, so a node pointer stays valid
 * without the lock for as long as the table lives.
 *
 * Thread-safe (one mutex).
 */
#ifndef RTKFS_INO_H
#define RTKFS_INO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/path.h"

#define RTK_INO_ROOT 1 /* FUSE_ROOT_ID */
#define RTK_INO_STRIDE 16
#define RTK_INO_PENDING_BASE (1ull << 62)

struct rtk_ino;

struct rtk_ino_node {
	uint64_t ino;
	struct rtk_ino_node *parent; /* NULL for the root */
	enum rtk_node_kind kind;
	/* private to ino.c */
	struct rtk_ino_node *next_by_ino, *next_by_name;
	uint64_t name_hash;
	char name[]; /* "" for the root */
};

/* The ids on the way from the root to a node (NULL where not on the way). */
struct rtk_ids {
	const char *account, *app, *webhook;
};

/* What to tell the kernel when rtkfs learns that something changed (may be all NULL). */
struct rtk_ino_hooks {
	/* Drop the kernel's caches of this inode (attributes, pages, directory listing). */
	void (*inval_inode)(void *ctx, uint64_t ino);
	/* Drop the kernel's dentry for name in directory parent. */
	void (*inval_entry)(void *ctx, uint64_t parent, const char *name);
	void *ctx;
};

/* A table holding only the root. NULL on ENOMEM. */
struct rtk_ino *rtk_ino_new(void);
void rtk_ino_free(struct rtk_ino *t); /* NULL is a no-op */

struct rtk_ino_node *rtk_ino_root(struct rtk_ino *t);

/* The child directory node name of parent, created on first use. NULL on ENOMEM. */
struct rtk_ino_node *rtk_ino_child(struct rtk_ino *t, struct rtk_ino_node *parent,
				   const char *name, enum rtk_node_kind kind);

/* The existing child directory node, or NULL (never creates; parent may be NULL). */
struct rtk_ino_node *rtk_ino_find(struct rtk_ino *t, struct rtk_ino_node *parent,
				  const char *name);

/* The directory node of an inode number, or NULL. */
struct rtk_ino_node *rtk_ino_node_of(struct rtk_ino *t, uint64_t ino);

/* Is ino a directory's number (no I/O, no lookup)? */
bool rtk_ino_is_dir(uint64_t ino);

/* The directory of file ino and the file's index in it, or NULL. */
struct rtk_ino_node *rtk_ino_file_of(struct rtk_ino *t, uint64_t ino, unsigned *index);

/* The number of file index of directory dir. */
uint64_t rtk_ino_file(const struct rtk_ino_node *dir, unsigned index);

/* The ids on the way from the root to n. */
void rtk_ino_ids(const struct rtk_ino_node *n, struct rtk_ids *ids);

/* Directory nodes in the table (for statistics). */
size_t rtk_ino_count(struct rtk_ino *t);

/* Tell the kernel to drop what it holds of object directory dir and its files. */
void rtk_ino_inval_object(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir);

#endif
