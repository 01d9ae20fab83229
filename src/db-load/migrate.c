/*
 * migrate.c - db-load --migrate DIR: versioned schema migrations, the
 * way yoyo-migrations kept the seed's course-inventory schema.
 *
 * The migrations are the files DIR/BACKEND/NNNN_NAME.sql when the folder
 * DIR/BACKEND exists (BACKEND: sqlite, postgres, mysql, mssql, odbc: the
 * SQL of schemas differs between them), else DIR/NNNN_NAME.sql.  NNNN is
 * the version, a positive integer; two files with the same version, or a
 * .sql file whose name does not start with one, are a configuration
 * error (78).  The table schema_version (version, name, applied_at) holds
 * one row per migration applied; it is created when missing.  Each
 * migration not in it runs, in version order, in a transaction of its
 * own together with the INSERT of its schema_version row: a statement
 * that fails rolls the migration back (65, naming the file and the
 * statement) and leaves the later ones unapplied.  Running again applies
 * nothing new: migrating is idempotent.
 *
 * MySQL/MariaDB commit every DDL statement on their own, so there a
 * failed migration keeps the statements before the failing one (its
 * version is still not recorded); the shipped MySQL migrations are
 * written to be rerun (CREATE ... IF NOT EXISTS).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate.h"

struct migration {
	long version;
	char *name;		/* the file name */
	char *path;
};

static int
by_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

char **
ep_sql_split(const char *sql, size_t *n)
{
	char **out = NULL;
	const char *p = sql, *start = sql;
	bool content = false;

	*n = 0;
	for (;;) {
		char c = *p;

		if (c == '\0' || c == ';') {
			if (content) {
				out = ep_xrealloc(out, (*n + 1) * sizeof(*out));
				out[(*n)++] = ep_xstrndup(start,
				    (size_t)(p - start));
			}
			if (c == '\0')
				break;
			start = ++p;
			content = false;
			continue;
		}
		if (c == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
			continue;
		}
		if (c == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			p = e ? e + 2 : p + strlen(p);
			continue;
		}
		if (c == '\'' || c == '"' || c == '`') {
			content = true;
			for (p++; *p != '\0'; p++)
				if (*p == c) {
					if (p[1] != c)
						break;
					p++;	/* a doubled quote */
				}
			if (*p != '\0')
				p++;
			continue;
		}
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			content = true;
		p++;
	}
	return out;
}

static void free_migrations(struct migration *m, size_t n);

/* The migration files of dir: 0 with *out (*n long, sorted), or -1. */
static int
list_migrations(const char *dir, const char *backend,
    struct migration **out, size_t *n, struct ep_error *err)
{
	char *sub = ep_xasprintf("%s/%s", dir, backend);
	DIR *d = opendir(sub);
	const char *used = sub;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (d == NULL) {
		used = dir;
		d = opendir(dir);
	}
	if (d == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_IOERR, "--migrate: %s: %s", dir, strerror(errno));
		free(sub);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char *end;
		long v;

		if (len < 5 || strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (end == de->d_name || v <= 0 || v > 2147483647L ||
		    errno != 0 || de->d_name[0] == '-' ||
		    de->d_name[0] == '+' || (*end != '_' && *end != '.' &&
		    *end != '-')) {
			ep_error_set(err, EP_EXIT_CONFIG, "--migrate: %s/%s: "
			    "the name does not start with a version "
			    "(NNNN_NAME.sql)", used, de->d_name);
			goto fail;
		}
		for (size_t i = 0; i < *n; i++)
			if ((*out)[i].version == v) {
				ep_error_set(err, EP_EXIT_CONFIG, "--migrate: "
				    "%s: %s and %s have the same version %ld",
				    used, (*out)[i].name, de->d_name, v);
				goto fail;
			}
		*out = ep_xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[*n].version = v;
		(*out)[*n].name = ep_xstrdup(de->d_name);
		(*out)[*n].path = ep_xasprintf("%s/%s", used, de->d_name);
		(*n)++;
	}
	closedir(d);
	free(sub);
	if (*n > 0)
		ep_sort(*out, *n, sizeof(**out), by_version);
	return 0;
fail:
	closedir(d);
	free(sub);
	free_migrations(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

static void
free_migrations(struct migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].path);
	}
	free(m);
}

static char *
read_file(const char *path, struct ep_error *err)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, r;

	if (f == NULL) {
		ep_error_set(err, EP_EXIT_NOINPUT, "%s: %s", path,
		    strerror(errno));
		return NULL;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = ep_xrealloc(buf, cap);
		}
		r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
	} while (r > 0);
	if (ferror(f)) {
		ep_error_set(err, EP_EXIT_IOERR, "%s: %s", path,
		    strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	if (strlen(buf) != len) {
		ep_error_set(err, EP_EXIT_DATAERR, "%s: holds a NUL byte",
		    path);
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * The versions in schema_version (created when missing): 0 with *v (*n
 * long), or -1 with err.
 */
static int
applied_versions(struct ep_db *db, long **v, size_t *n,
    struct ep_error *err)
{
	struct ep_error te = { 0 };
	struct ep_rec *row = ep_rec_new();
	int r;

	*v = NULL;
	*n = 0;
	/* Outside a transaction: a failed statement aborts one in
	 * PostgreSQL. */
	r = ep_db_query(db, "SELECT version FROM schema_version", NULL, 0,
	    &te);
	if (r < 0) {
		char *sql = ep_xasprintf("CREATE TABLE schema_version ("
		    "version %s NOT NULL PRIMARY KEY, name %s NOT NULL, "
		    "applied_at %s NOT NULL)", ep_db_type(db, "int", true),
		    ep_db_type(db, "text", false),
		    ep_db_type(db, "timestamp", false));

		r = ep_db_exec(db, sql, err);
		free(sql);
		if (r < 0) {
			ep_error_set(err, err->code, "cannot read or create "
			    "schema_version: %s (reading it: %s)", err->msg,
			    te.msg);
			ep_rec_free(row);
			return -1;
		}
		ep_rec_free(row);
		return 0;
	}
	while ((r = ep_db_next(db, row, err)) == 1) {
		if (row->n < 1 || row->f[0].val == NULL)
			continue;
		*v = ep_xrealloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = strtol(row->f[0].val, NULL, 10);
	}
	ep_rec_free(row);
	return r < 0 ? -1 : 0;
}

static int
apply(struct ep_db *db, const struct migration *m, struct ep_error *err)
{
	char *sql = read_file(m->path, err), **stmts, ver[32], now[32];
	size_t n = 0;
	struct ep_error te = { 0 };
	time_t t = time(NULL);
	struct tm tm;
	int rc = -1;

	if (sql == NULL)
		return -1;
	stmts = ep_sql_split(sql, &n);
	free(sql);
	snprintf(ver, sizeof(ver), "%ld", m->version);
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S", &tm);
	struct ep_db_param p[] = { { "version", ver }, { "name", m->name },
	    { "at", now } };

	if (ep_db_begin(db, err) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (ep_db_exec(db, stmts[i], err) < 0) {
			ep_error_set(err, err->code == EP_EXIT_UNAVAILABLE ||
			    err->code == EP_EXIT_TEMPFAIL ? err->code :
			    EP_EXIT_DATAERR, "migration %s: statement %zu: "
			    "%s (rolled back; not applied)", m->path, i + 1,
			    err->msg);
			goto rollback;
		}
	if (ep_db_exec_params(db, "INSERT INTO schema_version (version, "
	    "name, applied_at) VALUES (:version, :name, :at)", p, 3, err) < 0
	    || ep_db_commit(db, err) < 0) {
		ep_error_set(err, err->code, "migration %s: %s", m->path,
		    err->msg);
		goto rollback;
	}
	rc = 0;
	goto done;
rollback:
	ep_db_rollback(db, &te);
done:
	for (size_t i = 0; i < n; i++)
		free(stmts[i]);
	free(stmts);
	return rc;
}

int
ep_migrate(struct ep_db *db, const char *dir, struct ep_error *err)
{
	void *h;
	const struct ep_db_ops *ops = ep_db_backend(db, &h);
	struct migration *m = NULL;
	size_t n = 0, na = 0, done = 0;
	long *av = NULL, top = 0;
	int rc = -1;

	if (list_migrations(dir, ops->name, &m, &n, err) < 0)
		return -1;
	if (n == 0) {
		ep_error_set(err, EP_EXIT_CONFIG, "--migrate: %s: no "
		    "migration files (NNNN_NAME.sql)", dir);
		goto out;
	}
	if (applied_versions(db, &av, &na, err) < 0)
		goto out;
	for (size_t i = 0; i < na; i++)
		top = av[i] > top ? av[i] : top;
	for (size_t i = 0; i < n; i++) {
		bool have = false;

		for (size_t k = 0; k < na && !have; k++)
			have = av[k] == m[i].version;
		if (have)
			continue;
		if (apply(db, &m[i], err) < 0)
			goto out;
		ep_info(1, "applied migration %s", m[i].name);
		top = m[i].version > top ? m[i].version : top;
		done++;
	}
	ep_info(0, "schema at version %ld (%zu migration%s applied now)", top,
	    done, done == 1 ? "" : "s");
	rc = 0;
out:
	free(av);
	free_migrations(m, n);
	return rc;
}
