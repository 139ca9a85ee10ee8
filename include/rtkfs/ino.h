/* SPDX-License-Identifier: MIT */
/*
 * ino: the inode table of the namespace, and what the kernel is told about inodes.
 *
 * Every directory the kernel hears of gets a node with an inode number that is a multiple of
 * RTK_INO_STRIDE; the files of a directory are not nodes, their numbers are the directory's
 * plus 1 + index (a field, or a control file). New files being created in a webhooks
 * directory get numbers in a range of their own (RTK_INO_PENDING_BASE and up). Nodes are
 * found by number and by (parent, name).
 *
 * Lifetime (the kernel's lookup count, as in libfuse's passthrough_hp): a node counts the
 * lookups the kernel was given (rtk_ino_child with ref) less the ones it forgot
 * (rtk_ino_forget). A node whose count is 0, that has no child nodes, and that no cached
 * listing holds (the held callback) is freed. So a number is stable for as long as the
 * kernel holds it, or its object is listed; numbers come from a 64-bit counter and are
 * never reused, so a freed number can never confuse the kernel. A node pointer is valid
 * while the kernel holds the node (an operation on an inode, or on a child of it) or the
 * caller holds a count it took.
 *
 * Thread-safe (one mutex; held is called under it and must not call back into the table).
 */
#ifndef RTKFS_INO_H
#define RTKFS_INO_H

#include <stdatomic.h>
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
	uint64_t nlookup;   /* lookups the kernel holds */
	size_t nchildren;   /* child nodes (they point at this one) */
	/* Files (bit 1 << index) whose pages the kernel may hold: read, written or pushed. */
	atomic_uint_fast32_t paged;
	char name[]; /* "" for the root */
};

/* The ids on the way from the root to a node (NULL where not on the way). */
struct rtk_ids {
	const char *account, *app, *webhook;
};

/* Files whose bytes the kernel may have before it reads them (struct rtk_ino_hooks.store). */
#define RTK_INO_STORE_FILES 16            /* files of one store at most */
/*
 * Bytes of one file pushed at most: one page. A store of one page is one folio, filled
 * under its lock, so no read sees part of it; a store of several pages is not atomic.
 */
#define RTK_INO_STORE_FILE_MAX 4096u

struct rtk_ino_store {
	uint64_t seq; /* the count of local writes (hooks' write_seq) before it was made */
	/*
	 * May wait to be sent by the session loop's reader between requests, costing no thread
	 * wake-up: a file a LOOKUP handed out (a READ of it, if first, is answered as always).
	 * Else the notifier's thread is woken at once: a directory's files, that a walker like
	 * grep -r reads next (and the reader would wait for the page of a READ it must answer).
	 */
	bool lazy;
	/* On the notifier, just before sending: are these still the bytes a READ returns? */
	bool (*current)(const struct rtk_ino_store *s);
	/* Sent or dropped: let go of what keeps the bytes alive (frees s). */
	void (*release)(struct rtk_ino_store *s);
	size_t bytes; /* the files' lengths added up (the notifier's byte budget counts it) */
	unsigned n;
	struct rtk_ino_store_file {
		uint64_t ino;
		const char *p; /* borrowed from what release lets go of */
		size_t len;
	} files[RTK_INO_STORE_FILES];
};

/* What to tell the kernel when rtkfs learns that something changed (may be all NULL). */
struct rtk_ino_hooks {
	/* Drop the kernel's caches of this inode (attributes, pages, directory listing). */
	void (*inval_inode)(void *ctx, uint64_t ino);
	/* Drop the kernel's dentry for name in directory parent. */
	void (*inval_entry)(void *ctx, uint64_t parent, const char *name);
	/*
	 * Push the bytes of s into the kernel's page cache, in order with the invalidations
	 * (after those queued before it, before those queued after it). Takes s: it is
	 * released when sent, dropped (not current any more, no room) or right away.
	 */
	void (*store)(void *ctx, struct rtk_ino_store *s);
	/*
	 * The count of local writes, for struct rtk_ino_store.seq: taken before the files of a
	 * store are chosen, so that a write coming after that cancels the store.
	 */
	uint64_t (*write_seq)(void *ctx);
	/*
	 * Wait until what was queued before this call reached the kernel, or until until_ns
	 * (CLOCK_MONOTONIC) at most. Only from a thread holding nothing that a READ or the
	 * notifier may need.
	 */
	void (*settle)(void *ctx, uint64_t until_ns);
	/*
	 * Like inval_inode, for a file whose WRITE is being answered: that invalidation waits in
	 * the kernel for the WRITE's reply (and the next WRITE's), so it has a queue of its own
	 * that settle does not wait for. NULL: inval_inode.
	 */
	void (*inval_written)(void *ctx, uint64_t ino);
	void *ctx;
};

/*
 * A table holding only the root. held (may be NULL: nothing is held) tells whether a cached
 * listing still lists the object of node n. NULL on ENOMEM.
 */
struct rtk_ino *rtk_ino_new(bool (*held)(void *ctx, const struct rtk_ino_node *n), void *ctx);
void rtk_ino_free(struct rtk_ino *t); /* NULL is a no-op */

struct rtk_ino_node *rtk_ino_root(struct rtk_ino *t);

/*
 * The child directory node name of parent, created on first use; with ref, one lookup by the
 * kernel is counted on it (taken under the lock, so no forget can free it meanwhile). NULL on
 * ENOMEM.
 */
struct rtk_ino_node *rtk_ino_child(struct rtk_ino *t, struct rtk_ino_node *parent,
				   const char *name, enum rtk_node_kind kind, bool ref);

/*
 * The kernel forgot n lookups of inode ino (FORGET). Frees the node (and, in turn, parents
 * left unused) when nothing holds it any more. Numbers that are not nodes are ignored.
 */
void rtk_ino_forget(struct rtk_ino *t, uint64_t ino, uint64_t n);


/* The existing child directory node, or NULL (never creates; parent may be NULL). */
struct rtk_ino_node *rtk_ino_find(struct rtk_ino *t, struct rtk_ino_node *parent,
				  const char *name);

/* The directory node of an inode number, or NULL. */
struct rtk_ino_node *rtk_ino_node_of(struct rtk_ino *t, uint64_t ino);

/* Is ino a directory's number (no I/O, no lookup)? */
bool rtk_ino_is_dir(uint64_t ino);

/* The directory of file ino and the file's index in it, or NULL. */
struct rtk_ino_node *rtk_ino_file_of(struct rtk_ino *t, uint64_t ino, unsigned *index);

/*
 * Mark the files of dir in mask (bits 1 << index) as ones whose pages the kernel may hold;
 * returns those of them not marked before (a push may go only to those: no page to mix).
 */
uint32_t rtk_ino_mark_paged(struct rtk_ino_node *dir, uint32_t mask);

/* Mark file ino (a READ, WRITE or truncate of it): no push goes to it any more. */
void rtk_ino_note_paged(struct rtk_ino *t, uint64_t ino);

/* The number of file index of directory dir. */
uint64_t rtk_ino_file(const struct rtk_ino_node *dir, unsigned index);

/* The ids on the way from the root to n. */
void rtk_ino_ids(const struct rtk_ino_node *n, struct rtk_ids *ids);

/* Does the kernel hold a lookup of node n now (it may then hold inodes of its files)? */
bool rtk_ino_held(struct rtk_ino *t, const struct rtk_ino_node *n);

/* Directory nodes in the table (for statistics and tests). */
size_t rtk_ino_count(struct rtk_ino *t);

/* Tell the kernel to drop what it holds of object directory dir and its files, and of the
 * collection document that lists it. */
void rtk_ino_inval_object(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir);

/*
 * After a write to file index of object dir (a WRITE that holds that file's pages until it is
 * answered): drop the kernel's caches of the object's other files and document and wait
 * (settle, until until_ns at most; 0: no wait) for that to be done, so that a reader right
 * after write() sees the answer; the written file's own invalidation goes to inval_written.
 * until_ns 0 means another write of the object is under way: its other writable files (its
 * WRITE may hold their pages) go to inval_written too, so that nothing waits for them.
 */
void rtk_ino_inval_written(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir,
			   unsigned index, uint64_t until_ns);

/* Tell the kernel that the membership of collection directory coll changed: its listing, and
 * the collection document of its owner. */
void rtk_ino_inval_collection(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *coll);

#endif
