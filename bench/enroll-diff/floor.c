/*
 * floor.c - the least work any correct diff of DESIRED and ACTUAL by key
 * must do, as a bare loop: read both files, find the key fields
 * (course, user, role) of every record, hash them, insert DESIRED's
 * keys into a hash table (the key bytes kept, for the compare) and look
 * ACTUAL's up in it; then count DESIRED's unmatched keys (adds) and
 * ACTUAL's misses (drops).  It prints the counts so that the work cannot
 * be optimised away.
 *
 * floor [csv] DESIRED ACTUAL
 *
 * What it leaves out, and enroll-diff does: checking that the input is
 * JSON (or RFC 4180 CSV) and UTF-8, escapes, types, duplicate keys, and
 * writing the changes (sorted, with their records).  It reads with
 * fread into a 1 MB buffer, hashes with enroll-diff's word-at-a-time
 * hash, sizes the table once from the file size, and fetches a record's
 * table slot 12 records and its entry 6 records before it is looked up
 * (as enroll-diff does), so it is no slower than it need be.  NDJSON: flat objects whose key
 * values are strings without escapes (the generator's); CSV: a header
 * naming the key columns, fields quoted or not.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NKEY 3
#define RING 16		/* power of two */
#define LAG 12			/* records between the key and the lookup */
#define LAG2 6			/* ... and the key and the entry prefetch */

static const char *keyname[NKEY] = { "course", "user", "role" };
static const size_t keynlen[NKEY] = { 6, 4, 4 };

struct slot {
	uint32_t h, ref;	/* ref: arena offset + 1, 0 empty */
};

static struct slot *tab;
static size_t tcap;
static char *arena;		/* per key: 2-byte length, bytes, matched */
static size_t aused, acap;
static int csv;
static int kcol[NKEY];		/* CSV: column of each key field */

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
home(uint32_t h)
{
	return (size_t)(((uint64_t)h * tcap) >> 32);
}

struct pend {
	char key[512];
	size_t klen;
	uint32_t h;
};

/* The key of an NDJSON line: 0, or -1 if a key field is missing. */
static int
key_json(const char *p, const char *end, struct pend *q)
{
	const char *v[NKEY] = { 0 };
	size_t vl[NKEY] = { 0 };
	int found = 0;

	while (p < end && found < NKEY) {
		const char *n, *ne, *ve;

		n = memchr(p, '"', (size_t)(end - p));
		if (n == NULL)
			break;
		n++;
		ne = memchr(n, '"', (size_t)(end - n));
		if (ne == NULL)
			break;
		p = ne + 1;
		while (p < end && (*p == ':' || *p == ' '))
			p++;
		if (p < end && *p == '"') {
			p++;
			for (ve = p; ve < end && *ve != '"'; ve++)
				if (*ve == '\\')
					ve++;
			if (ve >= end)
				break;
		} else {
			for (ve = p; ve < end && *ve != ',' && *ve != '}'; ve++)
				;
		}
		for (int k = 0; k < NKEY; k++)
			if ((size_t)(ne - n) == keynlen[k] &&
			    memcmp(n, keyname[k], keynlen[k]) == 0 &&
			    v[k] == NULL) {
				v[k] = p;
				vl[k] = (size_t)(ve - p);
				found++;
			}
		p = ve + (ve < end && *ve == '"');
	}
	if (found < NKEY)
		return -1;
	q->klen = 0;
	for (int k = 0; k < NKEY; k++) {
		if (q->klen + vl[k] + 1 > sizeof(q->key))
			return -1;
		memcpy(q->key + q->klen, v[k], vl[k]);
		q->klen += vl[k];
		q->key[q->klen++] = '\0';
	}
	return 0;
}

/* The next CSV field at *pp (quoted or not): its bytes in v, vl. */
static void
csv_field(const char **pp, const char *end, const char **v, size_t *vl)
{
	const char *p = *pp, *e;

	if (p < end && *p == '"') {
		/* a doubled quote stays doubled: enough for a key compare */
		for (e = ++p; e < end; e++)
			if (*e == '"') {
				if (e + 1 < end && e[1] == '"')
					e++;
				else
					break;
			}
		*v = p;
		*vl = (size_t)(e - p);
		e += e < end;
	} else {
		e = memchr(p, ',', (size_t)(end - p));
		if (e == NULL)
			e = end;
		*v = p;
		*vl = (size_t)(e - p);
	}
	*pp = e < end ? e + 1 : end;
}

static int
key_csv(const char *p, const char *end, struct pend *q)
{
	const char *v[NKEY] = { 0 }, *f;
	size_t vl[NKEY] = { 0 }, fl;
	int found = 0;

	for (int col = 0; found < NKEY && p < end; col++) {
		csv_field(&p, end, &f, &fl);
		for (int k = 0; k < NKEY; k++)
			if (kcol[k] == col) {
				v[k] = f;
				vl[k] = fl;
				found++;
			}
	}
	if (found < NKEY)
		return -1;
	q->klen = 0;
	for (int k = 0; k < NKEY; k++) {
		if (q->klen + vl[k] + 1 > sizeof(q->key))
			return -1;
		memcpy(q->key + q->klen, v[k], vl[k]);
		q->klen += vl[k];
		q->key[q->klen++] = '\0';
	}
	return 0;
}

static void
header(const char *p, const char *end)
{
	const char *f;
	size_t fl;

	for (int k = 0; k < NKEY; k++)
		kcol[k] = -1;
	for (int col = 0; p < end; col++) {
		csv_field(&p, end, &f, &fl);
		for (int k = 0; k < NKEY; k++)
			if (fl == keynlen[k] && memcmp(f, keyname[k], fl) == 0)
				kcol[k] = col;
	}
	for (int k = 0; k < NKEY; k++)
		if (kcol[k] < 0) {
			fprintf(stderr, "floor: no column %s\n", keyname[k]);
			exit(65);
		}
}

static unsigned long drops, dups;
static size_t tn;

/* A table of ncap slots with the entries of the old one. */
static void
resize(size_t ncap)
{
	struct slot *old = tab;
	size_t ocap = tcap;

	tab = calloc(ncap, sizeof(*tab));
	if (tab == NULL)
		exit(71);
	tcap = ncap;
	for (size_t k = 0; k < ocap; k++) {
		size_t i;

		if (old[k].ref == 0)
			continue;
		for (i = home(old[k].h); tab[i].ref; i = i + 1 == tcap ? 0 : i + 1)
			;
		tab[i] = old[k];
	}
	free(old);
}

/* Insert (DESIRED) or look up (ACTUAL) q. */
static void
process(const struct pend *q, int actual)
{
	size_t i = home(q->h);

	for (;; i = i + 1 == tcap ? 0 : i + 1) {
		struct slot *s = &tab[i];
		char *e;

		if (s->ref == 0)
			break;
		if (s->h != q->h)
			continue;
		e = arena + s->ref - 1;
		if (((size_t)(unsigned char)e[0] << 8 |
		    (unsigned char)e[1]) == q->klen &&
		    memcmp(e + 2, q->key, q->klen) == 0) {
			if (actual)
				e[2 + q->klen] = 1;
			else
				dups++;
			return;
		}
	}
	if (actual) {
		drops++;
		return;
	}
	if (aused + q->klen + 3 > acap) {
		acap = acap ? acap * 2 : (size_t)64 << 20;
		arena = realloc(arena, acap);
		if (arena == NULL)
			exit(71);
	}
	if (++tn * 10 > tcap * 7) {
		resize(tcap * 2);
		for (i = home(q->h); tab[i].ref; i = i + 1 == tcap ? 0 : i + 1)
			;
	}
	tab[i].h = q->h;
	tab[i].ref = (uint32_t)aused + 1;
	arena[aused] = (char)(q->klen >> 8);
	arena[aused + 1] = (char)q->klen;
	memcpy(arena + aused + 2, q->key, q->klen);
	arena[aused + 2 + q->klen] = 0;
	aused += q->klen + 3;
}

static void
run(const char *path, int actual)
{
	static char buf[1 << 20];
	struct pend ring[RING];
	size_t have = 0, head = 0, tail = 0, nrec = 0, recbytes = 0;
	int first = 1;
	FILE *fp = fopen(path, "r");
	struct stat st;

	if (fp == NULL || fstat(fileno(fp), &st) != 0) {
		perror(path);
		exit(66);
	}
	for (;;) {
		size_t got = fread(buf + have, 1, sizeof(buf) - have, fp);
		const char *p = buf, *end, *nl;

		have += got;
		end = buf + have;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			struct pend *q = &ring[head & (RING - 1)];

			if (csv && first) {
				header(p, nl);
				first = 0;
				p = nl + 1;
				continue;
			}
			if ((csv ? key_csv : key_json)(p, nl, q) < 0) {
				fprintf(stderr, "floor: %s: no key\n", path);
				exit(65);
			}
			if (!actual && ++nrec <= 1024) {
				recbytes += (size_t)(nl - p) + 1;
				if (nrec == 1024 || tab == NULL) {
					size_t want = (size_t)((double)st.st_size /
					    ((double)recbytes / (double)nrec) *
					    1.08 / 0.7);

					if (want > tcap)
						resize(want + 512);
				}
			}
			p = nl + 1;
			q->h = (uint32_t)hash_bytes(q->key, q->klen);
			__builtin_prefetch(&tab[home(q->h)]);
			if (++head - tail > LAG2) {
				const struct pend *r = &ring[(head - 1 - LAG2) &
				    (RING - 1)];
				const struct slot *s = &tab[home(r->h)];

				if (s->ref != 0 && s->h == r->h)
					__builtin_prefetch(arena + s->ref - 1);
			}
			if (head - tail > LAG)
				process(&ring[tail++ & (RING - 1)], actual);
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
		if (got == 0)
			break;
	}
	while (tail < head)
		process(&ring[tail++ & (RING - 1)], actual);
	fclose(fp);
}

int
main(int argc, char **argv)
{
	unsigned long adds = 0;

	if (argc > 1 && strcmp(argv[1], "csv") == 0) {
		csv = 1;
		argc--;
		argv++;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: floor [csv] DESIRED ACTUAL\n");
		return 2;
	}
	run(argv[1], 0);
	run(argv[2], 1);
	for (size_t i = 0; i < tcap; i++)
		if (tab[i].ref) {
			const char *e = arena + tab[i].ref - 1;
			size_t len = (size_t)(unsigned char)e[0] << 8 |
			    (unsigned char)e[1];

			adds += e[2 + len] == 0;
		}
	printf("%lu adds, %lu drops, %lu duplicate keys\n", adds, drops, dups);
	free(tab);
	free(arena);
	return 0;
}
