/*
 * diff.c - the enroll-diff store and matcher (see diff.h).
 *
 * An entry in the arena is a 12-byte header, the key bytes (each key
 * component NUL-terminated, in --key order, then the --update-on value
 * when that field is not part of the key) and the encoded record: per
 * field a varint name id, a type byte (ep_type in the low 3 bits, 1 +
 * key component in the high 5 when the value is that component) and,
 * for values that are not key components, a varint length and the bytes.
 * When the first input is a regular NDJSON or CSV file its entries
 * (F_LAZY) hold, in place of the encoded record, the record's byte
 * offset and length in that file in one 8-byte word (lazy_place): it
 * is read again, with the same parser, only when it becomes a change
 * (materialize).  That halves the store and skips encoding the records
 * that match, most of them.
 * Entries are 4-byte aligned; a reference is (chunk << 22 | offset / 4),
 * 0 being no entry.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diff.h"
#include "keyval.h"

#define CHUNK_SHIFT 24
#define CHUNK_SIZE ((size_t)1 << CHUNK_SHIFT)
#define MAX_CHUNKS 1024		/* 16 GB of entries */
#define NPOS 64			/* field positions with a name-id cache */

#define F_ACTUAL 0x01000000u
#define F_MATCHED 0x02000000u
#define F_DETACHED 0x04000000u	/* not in the table: half of an update */
#define F_LAZY 0x08000000u	/* record kept as its place in the file */
#define KLEN_MASK 0x00ffffffu

struct ent {
	uint32_t kf;		/* hashed key bytes | flags */
	uint32_t slen;		/* stored key bytes */
	uint32_t rlen;		/* encoded record bytes */
};

struct slot {
	uint32_t h, ref;
};

struct name {
	char *s;
	size_t len;
};

struct ed_diff {
	struct ed_opts o;
	size_t ncomp;		/* stored key components */
	char *chunk[MAX_CHUNKS];
	size_t used[MAX_CHUNKS];
	size_t nchunk;
	struct slot *tab;
	size_t tcap, tn;
	struct name *names;
	size_t nnames, namecap;
	uint32_t *ntab;		/* name id + 1 by hash */
	size_t ntcap;
	uint32_t poscache[NPOS];
	size_t kpos[ED_MAX_KEY + 1];
	size_t knlen[ED_MAX_KEY + 1];	/* name lengths of the components */
	int nread;
	size_t hint;		/* bytes of the first input, 0 unknown */
	unsigned long count[2];
	struct ed_dups dups[2];
	struct ed_change *chg;
	size_t nchg, chgcap;
	bool sorted;
	char *rbuf;
	size_t rcap;
	char *oldname;		/* old_FIELD of upd */
	char *oldnames[ED_MAX_KEY];	/* ... of each of upds */
	int lazyfd;		/* the first input, a regular file, or -1 */
	struct ep_reader *lazyrd;	/* its reader */
	const char *lazyname;
	/* Courses with drops (when "course" is key field cidx). */
	int cidx;
	struct ed_course *crs;
	size_t ncrs, crscap;
	uint32_t *ctab;		/* course index + 1 by hash */
	size_t ctcap;
	struct pend *chk;	/* ed_check's record */
	unsigned long (*line)(void *);	/* ed_line_hook */
	void *line_arg;
};

/* ------------------------------------------------------------ helpers */

static uint64_t
hash_bytes(const char *p, size_t n)
{
	const uint64_t m = 0x9E3779B97F4A7C15ULL;
	uint64_t h = 0x243F6A8885A308D3ULL ^ (n * m);
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * m;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	if (n) {
		w = 0;
		memcpy(&w, p, n);
		h = (h ^ w) * m;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t
put_varint(char *o, size_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		o[n++] = (char)(v | 0x80);
		v >>= 7;
	}
	o[n++] = (char)v;
	return n;
}

static size_t
get_varint(const char **pp)
{
	const unsigned char *p = (const unsigned char *)*pp;
	size_t v = 0;
	int shift = 0;

	while (*p & 0x80) {
		v |= (size_t)(*p++ & 0x7F) << shift;
		shift += 7;
	}
	v |= (size_t)*p++ << shift;
	*pp = (const char *)p;
	return v;
}

static void
grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 4096;
	*buf = ep_xrealloc(*buf, *cap);
}

static struct ent *
ent_at(const struct ed_diff *d, uint32_t ref)
{
	return (struct ent *)(d->chunk[ref >> (CHUNK_SHIFT - 2)] +
	    ((size_t)(ref & ((1u << (CHUNK_SHIFT - 2)) - 1)) << 2));
}

static const char *
ent_key(const struct ent *e)
{
	return (const char *)(e + 1);
}

static const char *
ent_rec(const struct ent *e)
{
	return (const char *)(e + 1) + e->slen;
}

/*
 * A block of n bytes (zeroed when asked) on which the kernel may use huge
 * pages: the table and the arena are read at random, and with 4 KB pages
 * every lookup would also miss the TLB.
 */
static void *
big_alloc(size_t n, bool zero)
{
	void *p;

	if (n < ((size_t)2 << 20))
		return zero ? ep_xcalloc(1, n) : ep_xmalloc(n);
	if (posix_memalign(&p, (size_t)2 << 20, n) != 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
#ifdef MADV_HUGEPAGE
	madvise(p, n, MADV_HUGEPAGE);
#endif
	if (zero)
		memset(p, 0, n);
	return p;
}

/* Room for n bytes in the arena; returns the reference. */
static uint32_t
arena_alloc(struct ed_diff *d, size_t n, struct ent **out)
{
	size_t c = d->nchunk - 1;

	n = (n + 3) & ~(size_t)3;
	if (n > CHUNK_SIZE - 4)
		ep_die(EP_EXIT_SOFTWARE, "internal error: entry of %zu bytes",
		    n);
	if (d->nchunk == 0 || d->used[c] + n > CHUNK_SIZE) {
		if (d->nchunk == MAX_CHUNKS)
			ep_die(EP_EXIT_NOMEM, "more than %d chunks of records",
			    MAX_CHUNKS);
		c = d->nchunk++;
		d->chunk[c] = big_alloc(CHUNK_SIZE, false);
		d->used[c] = 4;	/* reference 0 means none */
	}
	*out = (struct ent *)(d->chunk[c] + d->used[c]);
	d->used[c] += n;
	return (uint32_t)((c << (CHUNK_SHIFT - 2)) |
	    ((d->used[c] - n) >> 2));
}

/*
 * A lazy entry's place in the file: one 64-bit word, the offset above
 * the length (a record is at most EP_MAX_RECORD bytes), 8 bytes where
 * two words took 12: a tenth of the store at 1M records.
 */
#define LAZY_LEN_BITS 24
_Static_assert(EP_MAX_RECORD < (1 << LAZY_LEN_BITS), "record length");

static unsigned long long
lazy_place(const struct ent *e, uint32_t *len)
{
	uint64_t w;

	memcpy(&w, ent_rec(e), 8);
	if (len != NULL)
		*len = (uint32_t)(w & ((1u << LAZY_LEN_BITS) - 1));
	return (unsigned long long)(w >> LAZY_LEN_BITS);
}

/* ------------------------------------------------------------- names */

static uint32_t
name_id(struct ed_diff *d, size_t pos, const char *s, size_t len)
{
	size_t mask, i;
	uint32_t id;

	if (pos < NPOS) {
		id = d->poscache[pos];
		if (id < d->nnames && d->names[id].len == len &&
		    memcmp(d->names[id].s, s, len) == 0)
			return id;
	}
	if (d->nnames * 2 >= d->ntcap) {
		size_t ncap = d->ntcap ? d->ntcap * 2 : 64;
		uint32_t *nt = ep_xcalloc(ncap, sizeof(*nt));

		for (size_t k = 0; k < d->nnames; k++) {
			i = hash_bytes(d->names[k].s, d->names[k].len) &
			    (ncap - 1);
			while (nt[i])
				i = (i + 1) & (ncap - 1);
			nt[i] = (uint32_t)k + 1;
		}
		free(d->ntab);
		d->ntab = nt;
		d->ntcap = ncap;
	}
	mask = d->ntcap - 1;
	for (i = hash_bytes(s, len) & mask; d->ntab[i]; i = (i + 1) & mask) {
		id = d->ntab[i] - 1;
		if (d->names[id].len == len &&
		    memcmp(d->names[id].s, s, len) == 0)
			goto found;
	}
	if (d->nnames == d->namecap) {
		d->namecap = d->namecap ? d->namecap * 2 : 32;
		d->names = ep_xrealloc(d->names,
		    d->namecap * sizeof(*d->names));
	}
	id = (uint32_t)d->nnames++;
	d->names[id].s = ep_xstrndup(s, len);
	d->names[id].len = len;
	d->ntab[i] = id + 1;
found:
	if (pos < NPOS)
		d->poscache[pos] = id;
	return id;
}

/* -------------------------------------------------------------- table */

/*
 * The home slot of hash h in a table of cap slots: h scaled to cap
 * (Lemire's multiply-shift), so cap need not be a power of two and the
 * table is sized to the input, not to the next power of two above it
 * (up to half of it empty: a tenth of the store at 1M records).
 */
static inline size_t
home(uint32_t h, size_t cap)
{
	return (size_t)(((uint64_t)h * cap) >> 32);
}

/* Rehash into ncap slots (more than now). */
static void
table_resize(struct ed_diff *d, size_t ncap)
{
	struct slot *nt = big_alloc(ncap * sizeof(*nt), true);

	for (size_t k = 0; k < d->tcap; k++) {
		size_t i;

		if (d->tab[k].ref == 0)
			continue;
		i = home(d->tab[k].h, ncap);
		while (nt[i].ref)
			if (++i == ncap)
				i = 0;
		nt[i] = d->tab[k];
	}
	free(d->tab);
	d->tab = nt;
	d->tcap = ncap;
}

static void
table_grow(struct ed_diff *d)
{
	table_resize(d, d->tcap ? d->tcap * 2 : 1024);
}

void
ed_size_hint(struct ed_diff *d, size_t bytes)
{
	d->hint = bytes;
}

void
ed_lazy(struct ed_diff *d, struct ep_reader *rd)
{
	d->lazyfd = fileno(ep_reader_file(rd));
	d->lazyrd = rd;
	d->lazyname = ep_reader_name(rd);
}

/*
 * Size the table once for the whole input, from the first records' size
 * and the file size: growing by doubling rehashes every slot again at
 * each step, each move a cache miss once the table outgrows the cache.
 */
static void
presize(struct ed_diff *d, double bytes_per_rec)
{
	double want = (double)d->hint / bytes_per_rec * 1.08 / 0.7;
	size_t cap;

	if (want > (double)((size_t)1 << 32))
		want = (double)((size_t)1 << 32);
	/* whole 4 KB pages of slots */
	cap = ((size_t)want + 511) & ~(size_t)511;
	if (cap > d->tcap)
		table_resize(d, cap);
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *
table_find(struct ed_diff *d, uint32_t h, const char *key, size_t klen)
{
	size_t i = home(h, d->tcap);

	for (;; i = i + 1 == d->tcap ? 0 : i + 1) {
		struct slot *s = &d->tab[i];
		const struct ent *e;

		if (s->ref == 0)
			return s;
		if (s->h != h)
			continue;
		e = ent_at(d, s->ref);
		if ((e->kf & KLEN_MASK) == klen &&
		    memcmp(ent_key(e), key, klen) == 0)
			return s;
	}
}

/* ------------------------------------------------------------ records */

/* The field name of stored key component i (key, then --update-on). */
static const char *
comp_name(const struct ed_diff *d, size_t i)
{
	return i < d->o.nkey ? d->o.key[i] : d->o.upds[i - d->o.nkey];
}

/* Whether name is one of the old_FIELD names an update writes. */
static bool
is_oldname(const struct ed_diff *d, const char *name)
{
	for (size_t i = 0; i < d->o.nupd; i++)
		if (d->oldnames[i] && strcmp(name, d->oldnames[i]) == 0)
			return true;
	return false;
}

struct ed_diff *
ed_new(const struct ed_opts *o)
{
	struct ed_diff *d = ep_xcalloc(1, sizeof(*d));

	d->o = *o;
	if (o->upd != NULL && d->o.nupd == 0) {
		d->o.upds[0] = o->upd;
		d->o.nupd = 1;
	}
	d->ncomp = o->nkey + (o->upd != NULL && o->updk < 0 ? d->o.nupd : 0);
	for (size_t i = 0; i < d->ncomp; i++)
		d->knlen[i] = strlen(comp_name(d, i));
	for (size_t i = 0; i < NPOS; i++)
		d->poscache[i] = UINT32_MAX;
	for (size_t i = 0; o->upd != NULL && i < d->o.nupd; i++)
		d->oldnames[i] = ep_xasprintf("old_%s", d->o.upds[i]);
	d->oldname = d->oldnames[0];
	d->lazyfd = -1;
	d->cidx = -1;
	for (size_t i = 0; i < o->nkey; i++)
		if (strcmp(o->key[i], "course") == 0)
			d->cidx = (int)i;
	table_grow(d);
	return d;
}

static void pend_free(struct pend *);

void
ed_free(struct ed_diff *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->nchunk; i++)
		free(d->chunk[i]);
	free(d->tab);
	for (size_t i = 0; i < d->nnames; i++)
		free(d->names[i].s);
	free(d->names);
	free(d->ntab);
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 3; i++)
			free(d->dups[s].first[i]);
	free(d->chg);
	free(d->rbuf);
	for (size_t i = 0; i < d->o.nupd; i++)
		free(d->oldnames[i]);
	for (size_t i = 0; i < d->ncrs; i++)
		free((char *)d->crs[i].name);
	free(d->crs);
	free(d->ctab);
	pend_free(d->chk);
	free(d);
}

/* fmt has one %s for field, or, when kind is not NULL, two. */
static int
bad_rec(struct ep_reader *rd, struct ep_error *err, const char *fmt,
    const char *field, const char *kind)
{
	char why[512];

	if (kind != NULL)
		snprintf(why, sizeof(why), fmt, field, kind);
	else
		snprintf(why, sizeof(why), fmt, field);
	ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: %s", ep_reader_name(rd),
	    ep_reader_line(rd), why);
	return -1;
}

/*
 * The field called name (nlen bytes) in rec, looked for first where it
 * was last.
 */
static const struct ep_field *
find_field(const struct ep_rec *rec, const char *name, size_t nlen,
    size_t *pos)
{
	if (*pos < rec->n && rec->f[*pos].nlen == nlen &&
	    memcmp(rec->f[*pos].name, name, nlen) == 0)
		return &rec->f[*pos];
	for (size_t i = 0; i < rec->n; i++)
		if (rec->f[i].nlen == nlen &&
		    memcmp(rec->f[i].name, name, nlen) == 0) {
			*pos = i;
			return &rec->f[i];
		}
	return NULL;
}

/* A record read but not yet matched (see ed_read). */
struct pend {
	struct ep_rec *rec;
	char *key;		/* components, each NUL-terminated */
	size_t kcap, klen, slen;
	size_t fpos[ED_MAX_KEY + 1];	/* field of each component */
	uint32_t h;
	unsigned long line;
	unsigned long long off;	/* place in the file (lazy entries) */
	size_t len;
};

static void
pend_free(struct pend *p)
{
	if (p != NULL)
		free(p->key);
	free(p);
}

/*
 * Build the key of p->rec in p->key: klen is the hashed part, slen all
 * of it (with the --update-on value when that is not a key field), fpos
 * the field of each component (SIZE_MAX for an absent --update-on
 * value).  -1 with *why (a format for *field and *kind) on a missing or
 * empty key field, or one that cannot be a key (an array, an object,
 * true/false or a number that is not an integer: see keyval.h).
 */
static int
make_key(struct ed_diff *d, struct pend *p, const char **why,
    const char **field, const char **kind)
{
	size_t n = 0;

	for (size_t i = 0; i < d->ncomp; i++) {
		const char *name = comp_name(d, i);
		const struct ep_field *f = find_field(p->rec, name,
		    d->knlen[i], &d->kpos[i]);
		const char *v = "";
		size_t vlen = 0;

		if (f != NULL && f->type != EP_T_NULL) {
			v = f->val;
			vlen = f->vlen;
			p->fpos[i] = d->kpos[i];
		} else {
			p->fpos[i] = SIZE_MAX;
		}
		*field = name;
		if (f != NULL && (*kind = ep_key_value_why(f)) != NULL) {
			*why = "field '%s' is %s; a key value must be a "
			    "string or an integer";
			return -1;
		}
		if (i < d->o.nkey) {
			if (p->fpos[i] == SIZE_MAX) {
				*why = "missing field '%s'";
				return -1;
			}
			if (vlen == 0) {
				*why = "empty field '%s'";
				return -1;
			}
		}
		/* No NUL in v: the reader refuses a NUL byte and the
		 * JSON escape \u0000 (see rec.h), so a key component
		 * ends at its NUL. */
		grow(&p->key, &p->kcap, n + vlen + 1);
		memcpy(p->key + n, v, vlen);
		n += vlen;
		p->key[n++] = '\0';
		if (i + 1 == d->o.nkey)
			p->klen = n;
	}
	p->slen = n;
	return 0;
}

/* Store p as a new entry; its reference. */
static uint32_t
store(struct ed_diff *d, const struct pend *p, uint32_t flags)
{
	const struct ep_rec *rec = p->rec;
	size_t rlen = 0;
	struct ent *e;
	uint32_t ref;

	if ((flags & F_LAZY) && (p->off >> (64 - LAZY_LEN_BITS) != 0 ||
	    p->len >> LAZY_LEN_BITS != 0))
		flags &= ~F_LAZY;	/* past 1 TB: kept whole */
	if (flags & F_LAZY) {
		uint64_t w = (uint64_t)p->off << LAZY_LEN_BITS | p->len;

		grow(&d->rbuf, &d->rcap, 8);
		memcpy(d->rbuf, &w, 8);
		rlen = 8;
	}
	for (size_t j = 0; j < rec->n && !(flags & F_LAZY); j++) {
		const struct ep_field *f = &rec->f[j];
		unsigned kc = 0;

		for (size_t i = 0; i < d->ncomp && kc == 0; i++)
			if (p->fpos[i] == j)
				kc = (unsigned)i + 1;
		grow(&d->rbuf, &d->rcap, rlen + f->vlen + 16);
		rlen += put_varint(d->rbuf + rlen, name_id(d, j, f->name,
		    f->nlen));
		d->rbuf[rlen++] = (char)(f->type | (kc << 3));
		if (kc)
			continue;
		rlen += put_varint(d->rbuf + rlen, f->vlen);
		memcpy(d->rbuf + rlen, f->val, f->vlen);
		rlen += f->vlen;
	}
	ref = arena_alloc(d, sizeof(*e) + p->slen + rlen, &e);
	e->kf = (uint32_t)p->klen | flags;
	e->slen = (uint32_t)p->slen;
	e->rlen = (uint32_t)rlen;
	memcpy((char *)(e + 1), p->key, p->slen);
	memcpy((char *)(e + 1) + p->slen, d->rbuf, rlen);
	return ref;
}

static void
add_change(struct ed_diff *d, enum ed_op op, uint32_t ref, uint32_t oref)
{
	if (d->nchg == d->chgcap) {
		d->chgcap = d->chgcap ? d->chgcap * 2 : 1024;
		d->chg = ep_xrealloc(d->chg, d->chgcap * sizeof(*d->chg));
	}
	d->chg[d->nchg].op = op;
	d->chg[d->nchg].ref = ref;
	d->chg[d->nchg].oref = oref;
	d->nchg++;
}

/* The n-th component of key (NUL-separated); its length in *len. */
static const char *
key_comp(const char *key, size_t n, size_t *len)
{
	while (n--)
		key += strlen(key) + 1;
	*len = strlen(key);
	return key;
}

static void
note_dup(struct ed_diff *d, enum ed_side side, const struct pend *p)
{
	struct ed_dups *u = &d->dups[side];
	char *s = NULL;
	size_t len = 0, off = 0;
	FILE *fp;

	if (u->n++ >= 3)
		return;
	fp = open_memstream(&s, &len);
	if (fp == NULL)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	for (size_t i = 0; i < d->o.nkey; i++) {
		size_t vlen;
		const char *v = key_comp(p->key + off, 0, &vlen);

		fprintf(fp, "%s%s=%s", i ? " " : "", d->o.key[i], v);
		off += vlen + 1;
	}
	fprintf(fp, " (line %lu)", p->line);
	fclose(fp);
	u->first[u->n - 1] = s;
}

static bool
role_ok(const struct ed_diff *d, const struct ep_field *f)
{
	for (size_t i = 0; i < d->o.nroles; i++)
		if (strcmp(d->o.roles[i], f->val) == 0)
			return true;
	return false;
}

/* Match or store one record of side. */
static void
process(struct ed_diff *d, const struct pend *p, enum ed_side side,
    bool table)
{
	uint32_t sflag = side == ED_ACTUAL ? F_ACTUAL : 0, me, other;
	struct slot *s;
	struct ent *e;
	const char *ov;
	size_t ol, nl;

	if ((d->tn + 1) * 10 > d->tcap * 7)
		table_grow(d);
	s = table_find(d, p->h, p->key, p->klen);
	if (s->ref == 0) {
		s->h = p->h;
		s->ref = store(d, p, sflag |
		    (table && d->lazyfd >= 0 ? F_LAZY : 0));
		d->tn++;
		d->count[side]++;
		return;
	}
	e = ent_at(d, s->ref);
	if (table || (e->kf & F_ACTUAL) == sflag || (e->kf & F_MATCHED)) {
		note_dup(d, side, p);
		return;
	}
	e->kf |= F_MATCHED;
	d->count[side]++;
	if (d->ncomp == d->o.nkey)
		return;
	/* --update-on fields outside the key: compare them. */
	ov = ent_key(e) + (e->kf & KLEN_MASK);
	ol = e->slen - (e->kf & KLEN_MASK);
	nl = p->slen - p->klen;
	if (ol == nl && memcmp(ov, p->key + p->klen, nl) == 0)
		return;
	other = s->ref;
	me = store(d, p, sflag | F_DETACHED);
	if (side == ED_DESIRED)
		add_change(d, ED_UPDATE, me, other);
	else
		add_change(d, ED_UPDATE, other, me);
}

/*
 * Records go through a short ring so that the table slot of a record, and
 * then the entry that slot points to, are fetched into the cache while
 * the next records are parsed: at 5M records the table and the arena are
 * far larger than the cache and each lookup would otherwise wait for
 * memory twice.
 */
#define RING 16			/* power of two */
#define LAG 12			/* records between parse and match */
#define LAG2 6			/* ... and parse and the entry prefetch */

/* --progress: one more record of rd, and its bytes. */
static void
count_read(struct ep_prog *pg, const struct ep_reader *rd)
{
	size_t len;

	ep_reader_offset(rd, &len);
	ep_prog_add(pg, 1, len + 1);
}

int
ed_read(struct ed_diff *d, struct ep_reader *rd, enum ed_side side,
    struct ep_error *err)
{
	struct pend ring[RING];
	bool table = d->nread++ == 0;
	size_t rolepos = 0, head = 0, tail = 0;
	unsigned long nrec = 0;
	double recbytes = 0;
	int r;

	memset(ring, 0, sizeof(ring));
	for (int i = 0; i < RING; i++)
		ring[i].rec = ep_rec_new();
	ep_prog_phase(d->o.prog, ep_reader_name(rd), "records");
	for (;;) {
		struct pend *p = &ring[head & (RING - 1)];
		const char *why, *field, *kind = NULL;

		if ((r = ep_reader_next(rd, p->rec, err)) != 1)
			break;
		if (table && d->lazyfd >= 0) {
			if (rd != d->lazyrd || !ep_reader_rereadable(rd))
				d->lazyfd = -1;
			p->off = ep_reader_offset(rd, &p->len);
		}
		++nrec;
		if (d->o.prog != NULL)
			count_read(d->o.prog, rd);
		if (table && d->hint && nrec <= 1024) {
			/* The record's bytes in the input, its newline
			 * included (a CSV line is about half the NDJSON
			 * length of its record: not a guess from fields). */
			size_t len;

			ep_reader_offset(rd, &len);
			recbytes += (double)len + 1;
			if (nrec == 1024)
				presize(d, recbytes / 1024);
		}
		if (d->o.roles) {
			const struct ep_field *f = find_field(p->rec, "role",
			    4, &rolepos);

			if (f == NULL || f->type == EP_T_NULL) {
				r = bad_rec(rd, err, "missing field '%s'",
				    "role", NULL);
				break;
			}
			if (!role_ok(d, f))
				continue;
		}
		if (make_key(d, p, &why, &field, &kind) < 0) {
			r = bad_rec(rd, err, why, field, kind);
			break;
		}
		p->h = (uint32_t)hash_bytes(p->key, p->klen);
		p->line = d->line != NULL ? d->line(d->line_arg) :
		    ep_reader_line(rd);
		__builtin_prefetch(&d->tab[home(p->h, d->tcap)]);
		head++;
		if (head - tail > LAG2) {
			const struct pend *q = &ring[(head - 1 - LAG2) &
			    (RING - 1)];
			const struct slot *s = &d->tab[home(q->h,
			    d->tcap)];

			if (s->ref != 0 && s->h == q->h)
				__builtin_prefetch(ent_at(d, s->ref), 1);
		}
		if (head - tail > LAG)
			process(d, &ring[tail++ & (RING - 1)], side, table);
	}
	if (r == 0)
		while (tail < head)
			process(d, &ring[tail++ & (RING - 1)], side, table);
	for (int i = 0; i < RING; i++) {
		ep_rec_free(ring[i].rec);
		free(ring[i].key);
	}
	return r < 0 ? -1 : 0;
}

int
ed_check(struct ed_diff *d, struct ep_reader *rd, struct ep_rec *rec,
    const char **first, struct ep_error *err)
{
	const char *why, *field, *kind = NULL;
	size_t rolepos = 0;

	if (d->o.roles) {
		const struct ep_field *f = find_field(rec, "role", 4,
		    &rolepos);

		if (f == NULL || f->type == EP_T_NULL)
			return bad_rec(rd, err, "missing field '%s'", "role",
			    NULL);
		if (!role_ok(d, f))
			return 0;
	}
	if (d->chk == NULL)
		d->chk = ep_xcalloc(1, sizeof(*d->chk));
	d->chk->rec = rec;
	if (make_key(d, d->chk, &why, &field, &kind) < 0)
		return bad_rec(rd, err, why, field, kind);
	*first = d->chk->key;
	return 1;
}

void
ed_line_hook(struct ed_diff *d, unsigned long (*fn)(void *), void *arg)
{
	d->line = fn;
	d->line_arg = arg;
}

unsigned long
ed_count(const struct ed_diff *d, enum ed_side side)
{
	return d->count[side];
}

const struct ed_dups *
ed_dups(const struct ed_diff *d, enum ed_side side)
{
	return &d->dups[side];
}

/* ------------------------------------------------------------ changes */

struct cand {
	uint32_t ref;
	int side;
	const char *m;		/* the key without the --update-on part */
	size_t mlen;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	size_t n = x->mlen < y->mlen ? x->mlen : y->mlen;
	int c = memcmp(x->m, y->m, n);

	if (c)
		return c;
	if (x->mlen != y->mlen)
		return x->mlen < y->mlen ? -1 : 1;
	return x->side - y->side;
}

static int
chg_cmp(const void *a, const void *b, void *arg)
{
	const struct ed_change *x = a, *y = b;
	const struct ed_diff *d = arg;
	const struct ent *ex = ent_at(d, x->ref), *ey = ent_at(d, y->ref);
	size_t lx = ex->kf & KLEN_MASK, ly = ey->kf & KLEN_MASK;
	int c = memcmp(ent_key(ex), ent_key(ey), lx < ly ? lx : ly);

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return (int)x->op - (int)y->op;
}

/*
 * --update-on a key field: of the unpaired records, a DESIRED and an
 * ACTUAL that are alone in sharing the rest of the key are one update.
 */
static void
pair_updates(struct ed_diff *d, struct cand *c, size_t n)
{
	char *mbuf;
	size_t off = 0, total = 0;

	for (size_t i = 0; i < n; i++)
		total += (ent_at(d, c[i].ref)->kf & KLEN_MASK) + 1;
	mbuf = ep_xmalloc(total + 1);
	for (size_t i = 0; i < n; i++) {
		const struct ent *e = ent_at(d, c[i].ref);
		const char *k = ent_key(e);
		size_t klen = e->kf & KLEN_MASK, pos = 0;

		c[i].m = mbuf + off;
		for (size_t comp = 0; pos < klen; comp++) {
			size_t len = strlen(k + pos) + 1;

			if ((int)comp != d->o.updk) {
				memcpy(mbuf + off, k + pos, len);
				off += len;
			}
			pos += len;
		}
		c[i].mlen = (size_t)(mbuf + off - c[i].m);
	}
	ep_sort(c, n, sizeof(*c), cand_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && c[j].mlen == c[i].mlen &&
		    memcmp(c[j].m, c[i].m, c[i].mlen) == 0)
			j++;
		if (j - i == 2 && c[i].side == ED_DESIRED &&
		    c[i + 1].side == ED_ACTUAL) {
			add_change(d, ED_UPDATE, c[i].ref, c[i + 1].ref);
		} else {
			for (size_t k = i; k < j; k++)
				add_change(d, c[k].side == ED_DESIRED ?
				    ED_ADD : ED_DROP, c[k].ref, 0);
		}
		i = j;
	}
	free(mbuf);
}

/* A lazy reference to read back: where, and the change field to set. */
struct lz {
	unsigned long long off;
	uint32_t *ref;
};

static int
lz_cmp(const void *a, const void *b)
{
	const struct lz *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Read the record of lazy entry *ref again and store it whole. */
static int
reread(struct ed_diff *d, uint32_t *ref, struct pend *p, char **buf,
    size_t *cap, struct ep_error *err)
{
	const struct ent *e = ent_at(d, *ref);
	unsigned long long off;
	uint32_t len;
	size_t got = 0;
	const char *why, *field, *kind;

	off = lazy_place(e, &len);
	grow(buf, cap, (size_t)len + 1);
	while (got < len) {
		ssize_t k = pread(d->lazyfd, *buf + got, len - got,
		    (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			ep_error_set(err, EP_EXIT_IOERR, "%s: read error: %s",
			    d->lazyname, strerror(errno));
			return -1;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got != len ||
	    ep_reader_reparse(d->lazyrd, p->rec, *buf, len, &why) < 0 ||
	    make_key(d, p, &why, &field, &kind) < 0 || p->slen != e->slen ||
	    memcmp(p->key, ent_key(e), p->slen) != 0) {
		ep_error_set(err, EP_EXIT_IOERR, "%s: changed while being "
		    "read (the record at byte %llu)", d->lazyname, off);
		return -1;
	}
	*ref = store(d, p, (e->kf & F_ACTUAL) | F_MATCHED | F_DETACHED);
	return 0;
}

/*
 * Replace the lazy references of the changes by whole records, read in
 * file order.
 */
static int
materialize(struct ed_diff *d, struct ep_error *err)
{
	struct lz *l = NULL;
	size_t nl = 0, cap = 0;
	struct pend p;
	int rc = 0;

	for (size_t i = 0; i < d->nchg; i++)
		for (int k = 0; k < 2; k++) {
			uint32_t *ref = k ? &d->chg[i].oref : &d->chg[i].ref;
			const struct ent *e;

			if (*ref == 0 || !((e = ent_at(d, *ref))->kf & F_LAZY))
				continue;
			if (nl == cap) {
				cap = cap ? cap * 2 : 1024;
				l = ep_xrealloc(l, cap * sizeof(*l));
			}
			l[nl].off = lazy_place(e, NULL);
			l[nl++].ref = ref;
		}
	if (nl == 0)
		return 0;
	ep_sort(l, nl, sizeof(*l), lz_cmp);
	memset(&p, 0, sizeof(p));
	p.rec = ep_rec_new();
	{
		char *buf = NULL;
		size_t bcap = 0;

		for (size_t i = 0; i < nl && rc == 0; i++)
			rc = reread(d, l[i].ref, &p, &buf, &bcap, err);
		free(buf);
	}
	ep_rec_free(p.rec);
	free(p.key);
	free(l);
	return rc;
}

int
ed_changes(struct ed_diff *d, struct ed_change **chg, size_t *n,
    struct ep_error *err)
{
	struct cand *c = NULL;
	size_t nc = 0, ccap = 0;

	if (d->sorted) {
		*chg = d->chg;
		*n = d->nchg;
		return 0;
	}
	for (size_t k = 0; k < d->nchunk; k++) {
		size_t off = 4;

		while (off < d->used[k]) {
			struct ent *e = (struct ent *)(d->chunk[k] + off);
			uint32_t ref = (uint32_t)((k << (CHUNK_SHIFT - 2)) |
			    (off >> 2));
			int side = (e->kf & F_ACTUAL) ? ED_ACTUAL : ED_DESIRED;

			off += (sizeof(*e) + e->slen + e->rlen + 3) &
			    ~(size_t)3;
			if (e->kf & (F_MATCHED | F_DETACHED))
				continue;
			if (d->o.updk < 0 || d->o.upd == NULL) {
				add_change(d, side == ED_DESIRED ? ED_ADD :
				    ED_DROP, ref, 0);
				continue;
			}
			if (nc == ccap) {
				ccap = ccap ? ccap * 2 : 1024;
				c = ep_xrealloc(c, ccap * sizeof(*c));
			}
			c[nc].ref = ref;
			c[nc].side = side;
			nc++;
		}
	}
	if (nc)
		pair_updates(d, c, nc);
	free(c);
	if (materialize(d, err) < 0)
		return -1;
	if (d->nchg > 1)
		qsort_r(d->chg, d->nchg, sizeof(*d->chg), chg_cmp, d);
	d->sorted = true;
	*chg = d->chg;
	*n = d->nchg;
	return 0;
}

/* ----------------------------------------------------- record decoding */

struct it {
	const char *p, *end, *key;
};

/* The next field of an encoded record; false at the end. */
static bool
next_field(struct it *it, uint32_t *id, enum ep_type *t, const char **v,
    size_t *vlen)
{
	unsigned tk;

	if (it->p >= it->end)
		return false;
	*id = (uint32_t)get_varint(&it->p);
	tk = (unsigned char)*it->p++;
	*t = (enum ep_type)(tk & 7);
	if (tk >> 3) {
		*v = key_comp(it->key, (tk >> 3) - 1, vlen);
	} else {
		*vlen = get_varint(&it->p);
		*v = it->p;
		it->p += *vlen;
	}
	return true;
}

static void
it_init(const struct ed_diff *d, struct it *it, uint32_t ref)
{
	const struct ent *e = ent_at(d, ref);

	it->key = ent_key(e);
	it->p = ent_rec(e);
	it->end = it->p + e->rlen;
}

static const char *const opname[] = { "add", "drop", "update" };

/*
 * The provenance an update carries from its ACTUAL record (the LMS's):
 * of a field whose name ends in "_id" (lms-fetch's user_id, course_id,
 * enrollment_id ...), the name of its copy, "actual_NAME", kept in the
 * name table; NULL for any other field.
 */
static const char *
actual_name(struct ed_diff *d, uint32_t id)
{
	const struct name *nm = &d->names[id];
	char buf[256];
	uint32_t aid;

	if (nm->len < 3 || nm->len > sizeof(buf) - 8 ||
	    memcmp(nm->s + nm->len - 3, "_id", 3) != 0)
		return NULL;
	memcpy(buf, "actual_", 7);
	memcpy(buf + 7, nm->s, nm->len);
	/* name_id may move d->names (nm with it): look it up after. */
	aid = name_id(d, NPOS, buf, nm->len + 7);
	return d->names[aid].s;
}

void
ed_change_rec(struct ed_diff *d, const struct ed_change *c,
    struct ep_rec *out)
{
	struct it it;
	uint32_t id;
	enum ep_type t;
	const char *v;
	size_t vlen;

	ep_rec_clear(out);
	ep_rec_set(out, "op", EP_T_STR, opname[c->op],
	    strlen(opname[c->op]));
	it_init(d, &it, c->ref);
	while (next_field(&it, &id, &t, &v, &vlen)) {
		const char *name = d->names[id].s;

		if (strcmp(name, "op") == 0 || is_oldname(d, name))
			continue;
		ep_rec_set(out, name, t, v, vlen);
	}
	if (c->op != ED_UPDATE)
		return;
	for (size_t i = 0; i < d->o.nupd; i++) {
		it_init(d, &it, c->oref);
		while (next_field(&it, &id, &t, &v, &vlen))
			if (strcmp(d->names[id].s, d->o.upds[i]) == 0) {
				ep_rec_set(out, d->oldnames[i], t, v, vlen);
				break;
			}
		if (ep_rec_get(out, d->oldnames[i]) == NULL)
			ep_rec_set(out, d->oldnames[i], EP_T_NULL, NULL, 0);
	}
	it_init(d, &it, c->oref);
	while (next_field(&it, &id, &t, &v, &vlen)) {
		const char *an = actual_name(d, id);

		if (an != NULL)
			ep_rec_set(out, an, t, v, vlen);
	}
}

void
ed_change_names(struct ed_diff *d, const struct ed_change *c,
    void (*fn)(const char *, void *), void *arg)
{
	struct it it;
	uint32_t id;
	enum ep_type t;
	const char *v;
	size_t vlen;

	fn("op", arg);
	it_init(d, &it, c->ref);
	while (next_field(&it, &id, &t, &v, &vlen))
		fn(d->names[id].s, arg);
	if (c->op != ED_UPDATE)
		return;
	for (size_t i = 0; i < d->o.nupd; i++)
		fn(d->oldnames[i], arg);
	it_init(d, &it, c->oref);
	while (next_field(&it, &id, &t, &v, &vlen)) {
		const char *an = actual_name(d, id);

		if (an != NULL)
			fn(an, arg);
	}
}

const char *
ed_change_field(struct ed_diff *d, const struct ed_change *c,
    const char *name, size_t *len)
{
	struct it it;
	uint32_t id;
	enum ep_type t;
	const char *v;

	it_init(d, &it, c->ref);
	while (next_field(&it, &id, &t, &v, len))
		if (strcmp(d->names[id].s, name) == 0)
			return t == EP_T_NULL ? NULL : v;
	return NULL;
}

/* ------------------------------------------------------- per course */

/*
 * The index of course s (len bytes) in d->crs; added when new if add,
 * else SIZE_MAX when absent.
 */
static size_t
course_find(struct ed_diff *d, const char *s, size_t len, bool add)
{
	size_t mask, i;
	uint32_t k;

	if (add && d->ncrs * 2 >= d->ctcap) {
		size_t ncap = d->ctcap ? d->ctcap * 2 : 64;
		uint32_t *nt = ep_xcalloc(ncap, sizeof(*nt));

		for (size_t j = 0; j < d->ncrs; j++) {
			i = hash_bytes(d->crs[j].name, d->crs[j].len) &
			    (ncap - 1);
			while (nt[i])
				i = (i + 1) & (ncap - 1);
			nt[i] = (uint32_t)j + 1;
		}
		free(d->ctab);
		d->ctab = nt;
		d->ctcap = ncap;
	}
	if (d->ctcap == 0)
		return SIZE_MAX;
	mask = d->ctcap - 1;
	for (i = hash_bytes(s, len) & mask; (k = d->ctab[i]) != 0;
	    i = (i + 1) & mask)
		if (d->crs[k - 1].len == len &&
		    memcmp(d->crs[k - 1].name, s, len) == 0)
			return k - 1;
	if (!add)
		return SIZE_MAX;
	if (d->ncrs == d->crscap) {
		d->crscap = d->crscap ? d->crscap * 2 : 64;
		d->crs = ep_xrealloc(d->crs, d->crscap * sizeof(*d->crs));
	}
	d->crs[d->ncrs].name = ep_xstrndup(s, len);
	d->crs[d->ncrs].len = len;
	d->crs[d->ncrs].actual = 0;
	d->crs[d->ncrs].drop = 0;
	d->ctab[i] = (uint32_t)++d->ncrs;
	return d->ncrs - 1;
}

/*
 * Count the ACTUAL records of the courses in d->crs with more than floor
 * drops, in one pass over the store: an ACTUAL record is either an entry
 * of its own (F_ACTUAL: the table side, or a record with no partner) or
 * the partner that marked a DESIRED entry F_MATCHED.  Detached entries
 * are second copies (update halves, records read again) and are skipped.
 * Nothing is counted per record while reading, so the check costs the
 * common run nothing.
 */
static void
count_actual(struct ed_diff *d, unsigned long floor)
{
	bool any = false;

	for (size_t i = 0; i < d->ncrs; i++)
		any |= d->crs[i].drop > floor;
	if (!any)
		return;
	for (size_t k = 0; k < d->nchunk; k++) {
		size_t off = 4;

		while (off < d->used[k]) {
			const struct ent *e = (const struct ent *)(d->chunk[k] +
			    off);
			const char *s;
			size_t len, c;

			off += (sizeof(*e) + e->slen + e->rlen + 3) &
			    ~(size_t)3;
			if ((e->kf & F_DETACHED) ||
			    !(e->kf & (F_ACTUAL | F_MATCHED)))
				continue;
			s = key_comp(ent_key(e), (size_t)d->cidx, &len);
			c = course_find(d, s, len, false);
			if (c != SIZE_MAX)
				d->crs[c].actual++;
		}
	}
}

bool
ed_course_drops(struct ed_diff *d, struct ed_change *const *chg, size_t n,
    unsigned long floor, struct ed_course **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (d->cidx < 0)
		return false;
	for (size_t i = 0; i < d->ncrs; i++) {
		d->crs[i].drop = 0;
		d->crs[i].actual = 0;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len, k;

		if (chg[i]->op != ED_DROP)
			continue;
		s = key_comp(ent_key(ent_at(d, chg[i]->ref)),
		    (size_t)d->cidx, &len);
		k = course_find(d, s, len, true);	/* may move d->crs */
		d->crs[k].drop++;
	}
	count_actual(d, floor);
	*out = d->crs;
	*nout = d->ncrs;
	return true;
}
