/*
 * diff.h - the enroll-diff engine: both inputs read into one compact
 * store, matched by key, and the change set they imply.
 *
 * Memory is the point: a record is kept as its key bytes plus a compact
 * encoding of its fields (name ids, type bytes, values; values equal to a
 * key component are not stored twice) in 16 MB arena chunks, and found
 * through an open-addressing table of (32-bit hash, arena reference)
 * slots.  Only the first input read (the "table side", the smaller file
 * when both are files) is kept whole; of the second only the records with
 * no partner are kept.  When the table side is a regular NDJSON or CSV
 * file (ed_lazy), its records are kept as key bytes plus their place in the
 * file, and read again only for the changes.
 */
#ifndef ED_DIFF_H
#define ED_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "progress.h"
#include "rec.h"

#define ED_MAX_KEY 30		/* key fields (a type byte holds 31) */

enum ed_side { ED_DESIRED = 0, ED_ACTUAL = 1 };
enum ed_op { ED_ADD = 0, ED_DROP = 1, ED_UPDATE = 2 };

struct ed_opts {
	const char *key[ED_MAX_KEY];
	size_t nkey;
	const char *upd;	/* --update-on FIELD, or NULL */
	int updk;		/* index of upd in key, or -1 */
	const char *upds[ED_MAX_KEY];	/* --update-on FIELDS (upd first) */
	size_t nupd;		/* several only when none is a key field */
	char **roles;		/* --roles, or NULL */
	size_t nroles;
	struct ep_prog *prog;	/* --progress, or NULL */
};

/*
 * A course's counts for the per-course drop check: the drops among the
 * changes asked about and its ACTUAL records (unique, after --roles).
 */
struct ed_course {
	const char *name;	/* NUL-terminated (a key never holds NUL) */
	size_t len;
	unsigned long actual, drop;
};

/* One change: ref is the record printed, oref the ACTUAL of an update. */
struct ed_change {
	uint32_t ref, oref;
	enum ed_op op;
};

struct ed_dups {
	unsigned long n;
	char *first[3];		/* "course=... user=... (line N)" */
};

struct ed_diff;

struct ed_diff *ed_new(const struct ed_opts *o);
void ed_free(struct ed_diff *d);

/*
 * The size in bytes of the input to be read first, when known: the table
 * is then sized once rather than grown step by step.
 */
void ed_size_hint(struct ed_diff *d, size_t bytes);

/*
 * The first input is a regular file read by rd: when its records can be
 * decoded again from their bytes (NDJSON, or CSV not converted from
 * another encoding: ep_reader_rereadable), they are kept as their place
 * in the file and read again with pread() only if they become changes.
 * A record that is not what it was is then an error (74).
 */
void ed_lazy(struct ed_diff *d, struct ep_reader *rd);

/*
 * Read every record of rd as side.  The first call fills the table; the
 * second matches against it.  -1 with err filled on bad input.
 */
int ed_read(struct ed_diff *d, struct ep_reader *rd, enum ed_side side,
    struct ep_error *err);

/*
 * The checks ed_read makes on one record rec that rd returned, without
 * storing it: -1 with err filled as ed_read would (65, "NAME:LINE: ..."),
 * 0 when --roles leaves it out, 1 with *first its first key component
 * (NUL-terminated, borrowed until the next call).  --memory-limit checks
 * every record so before it goes to a partition.
 */
int ed_check(struct ed_diff *d, struct ep_reader *rd, struct ep_rec *rec,
    const char **first, struct ep_error *err);

/*
 * Each record's line number (in messages about duplicates) from fn(arg)
 * rather than from the reader: a partition's records keep the line they
 * had in the input.  Called once for every record ed_read keeps.
 */
void ed_line_hook(struct ed_diff *d, unsigned long (*fn)(void *), void *arg);

/* Unique records read (after --roles) of side. */
unsigned long ed_count(const struct ed_diff *d, enum ed_side side);
const struct ed_dups *ed_dups(const struct ed_diff *d, enum ed_side side);

/*
 * The change set, sorted by key bytes then op, in *chg (the array
 * belongs to d) and *n.  -1 with err filled when a lazy record cannot
 * be read again.
 */
int ed_changes(struct ed_diff *d, struct ed_change **chg, size_t *n,
    struct ep_error *err);

/* Fill out with the change record of c ("op" first). */
void ed_change_rec(struct ed_diff *d, const struct ed_change *c,
    struct ep_rec *out);

/*
 * Field names of c's record in order, "op" and old_FIELD included,
 * as calls to fn(name, arg).
 */
void ed_change_names(struct ed_diff *d, const struct ed_change *c,
    void (*fn)(const char *, void *), void *arg);

/* The value text of field name in c's record (borrowed), or NULL. */
const char *ed_change_field(struct ed_diff *d, const struct ed_change *c,
    const char *name, size_t *len);

/*
 * The courses that lose records to the drops among the n changes chg,
 * in the order of their first drop, in *out (the array belongs to d) and
 * *nout; the ACTUAL records of a course are counted (one pass over the
 * store) only for those with more than floor drops, 0 for the others.
 * false, with nothing counted, when "course" is not a key field.
 */
bool ed_course_drops(struct ed_diff *d, struct ed_change *const *chg,
    size_t n, unsigned long floor, struct ed_course **out, size_t *nout);

#endif
