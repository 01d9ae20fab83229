/*
 * db.c - the backend-independent half of db.h: pick the backend from the
 * URL scheme, find and check the :name parameters, hand the rewritten SQL
 * and the values in placeholder order to the backend.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "secret.h"

struct ep_db {
	const struct ep_db_ops *ops;
	void *h;
	bool active;		/* a query ran and its rows may be read */
};

struct ep_db *
ep_db_open(const char *url, const char *password, int flags,
    struct ep_error *err)
{
	const struct ep_db_ops *ops;
	struct ep_db *db;
	struct ep_url u;
	char *masked;
	void *h;

	if (ep_url_parse(url, &u, err) < 0)
		return NULL;
	masked = ep_url_mask(url);
	if (u.password != NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "refusing '%s': a password "
		    "does not belong in the URL (set SIS_PASSWORD or use "
		    "--password-file)", masked);
		goto fail;
	}
	if (strcmp(u.scheme, "sqlite") == 0)
		ops = &ep_db_sqlite_ops;
	else if (strcmp(u.scheme, "postgres") == 0 ||
	    strcmp(u.scheme, "postgresql") == 0)
		ops = &ep_db_pg_ops;
	else if (strcmp(u.scheme, "mssql") == 0 ||
	    strcmp(u.scheme, "sqlserver") == 0)
		ops = &ep_db_mssql_ops;
	else {
		ep_error_set(err, EP_EXIT_CONFIG, "unknown database URL "
		    "scheme in '%s' (use sqlite:PATH, postgres://USER@HOST/DB "
		    "or mssql://USER@HOST/DB)", masked);
		goto fail;
	}
	h = ops->open(url, password, flags, err);
	if (h == NULL)
		goto fail;
	free(masked);
	ep_url_free(&u);
	db = ep_xcalloc(1, sizeof(*db));
	db->ops = ops;
	db->h = h;
	return db;
fail:
	free(masked);
	ep_url_free(&u);
	return NULL;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Two result columns of one name would make one field hide the other. */
static int
dup_column(struct ep_db *db, struct ep_error *err)
{
	size_t n;
	const char *const *c = ep_db_columns(db, &n);

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(c[i], c[k]) == 0) {
				ep_error_set(err, EP_EXIT_DATAERR, "the query "
				    "returns two columns named '%s' (rename "
				    "one with AS)", c[i]);
				return -1;
			}
	return 0;
}

int
ep_db_query(struct ep_db *db, const char *sql,
    const struct ep_db_param *params, size_t np, struct ep_error *err)
{
	const char **values = NULL;
	char **names = NULL, *text;
	size_t nnames = 0;
	int rc = -1;

	db->active = false;
	for (size_t i = 0; i < np; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(params[i].name, params[k].name) == 0) {
				ep_error_set(err, EP_EXIT_USAGE, "parameter "
				    "'%s' is given twice", params[i].name);
				return -1;
			}
	text = ep_sql_params(sql, db->ops->placeholder, &names, &nnames);
	values = ep_xcalloc(nnames + 1, sizeof(*values));
	for (size_t i = 0; i < nnames; i++) {
		size_t k;

		for (k = 0; k < np; k++)
			if (strcmp(names[i], params[k].name) == 0)
				break;
		if (k == np) {
			ep_error_set(err, EP_EXIT_USAGE, "the query uses "
			    "parameter ':%s' but no value was given (--param "
			    "%s=VALUE)", names[i], names[i]);
			goto out;
		}
		values[i] = params[k].value;
	}
	for (size_t k = 0; k < np; k++) {
		size_t i;

		for (i = 0; i < nnames; i++)
			if (strcmp(names[i], params[k].name) == 0)
				break;
		if (i == nnames) {
			ep_error_set(err, EP_EXIT_USAGE, "parameter '%s' is "
			    "given but the query does not use ':%s'",
			    params[k].name, params[k].name);
			goto out;
		}
	}
	rc = db->ops->query(db->h, text, values, nnames, err);
	if (rc == 0 && dup_column(db, err) < 0)
		rc = -1;
	db->active = rc == 0;
out:
	free(values);
	free(text);
	free_names(names, nnames);
	return rc;
}

int
ep_db_next(struct ep_db *db, struct ep_rec *row, struct ep_error *err)
{
	int rc;

	ep_rec_clear(row);
	if (!db->active)
		return 0;
	rc = db->ops->next(db->h, row, err);
	if (rc <= 0)
		db->active = false;
	return rc;
}

int
ep_db_exec(struct ep_db *db, const char *sql, struct ep_error *err)
{
	db->active = false;
	if (db->ops->exec == NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "the %s backend cannot "
		    "run statements", db->ops->name);
		return -1;
	}
	return db->ops->exec(db->h, sql, err);
}

const char *const *
ep_db_columns(struct ep_db *db, size_t *n)
{
	*n = 0;
	if (db->ops->columns == NULL)
		return NULL;
	return db->ops->columns(db->h, n);
}

int
ep_db_begin(struct ep_db *db, struct ep_error *err)
{
	return ep_db_exec(db, db->ops->begin_sql ? db->ops->begin_sql :
	    "BEGIN", err);
}

int
ep_db_commit(struct ep_db *db, struct ep_error *err)
{
	return ep_db_exec(db, "COMMIT", err);
}

int
ep_db_rollback(struct ep_db *db, struct ep_error *err)
{
	return ep_db_exec(db, "ROLLBACK", err);
}

const struct ep_db_ops *
ep_db_backend(struct ep_db *db, void **handle)
{
	if (handle != NULL)
		*handle = db->h;
	return db->ops;
}

void
ep_db_close(struct ep_db *db)
{
	if (db == NULL)
		return;
	db->ops->close(db->h);
	free(db);
}

/* ------------------------------------------------------ parameter scan */

static bool
ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool
ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Length of a dollar-quote tag "$tag$" or "$$" at s, or 0. */
static size_t
dollar_tag(const char *s)
{
	size_t n = 1;

	if (s[1] == '$')
		return 2;
	if (!ident_start(s[1]))
		return 0;
	while (ident_char(s[n]))
		n++;
	return s[n] == '$' ? n + 1 : 0;
}

/* Skip a literal, quoted identifier or comment starting at s[i]; return
 * the index just past it, or i when none starts there. */
static size_t
skip_quoted(const char *s, size_t i)
{
	size_t j, t;

	switch (s[i]) {
	case '\'':
	case '"': {
		char q = s[i];
		/* PostgreSQL E'...' strings take backslash escapes. */
		bool bs = q == '\'' && i > 0 && (s[i - 1] == 'E' ||
		    s[i - 1] == 'e') && (i < 2 || !ident_char(s[i - 2]));

		for (j = i + 1; s[j]; j++) {
			if (bs && s[j] == '\\' && s[j + 1]) {
				j++;
				continue;
			}
			if (s[j] == q) {
				if (s[j + 1] == q) {
					j++;
					continue;
				}
				return j + 1;
			}
		}
		return j;
	}
	case '-':
		if (s[i + 1] != '-')
			return i;
		return i + strcspn(s + i, "\n");
	case '/': {
		int depth = 0;

		if (s[i + 1] != '*')
			return i;
		for (j = i; s[j]; j++) {
			if (s[j] == '/' && s[j + 1] == '*') {
				depth++;
				j++;
			} else if (s[j] == '*' && s[j + 1] == '/') {
				j++;
				if (--depth == 0)
					return j + 1;
			}
		}
		return j;
	}
	case '$':
		if (i > 0 && ident_char(s[i - 1]))
			return i;
		t = dollar_tag(s + i);
		if (t == 0)
			return i;
		for (j = i + t; s[j]; j++)
			if (strncmp(s + j, s + i, t) == 0)
				return j + t;
		return j;
	default:
		return i;
	}
}

char *
ep_sql_params(const char *sql, char *(*ph)(size_t i, const char *name),
    char ***names, size_t *nnames)
{
	size_t len = strlen(sql), cap = len + 1, olen = 0, i = 0;
	char *out = ep_xmalloc(cap);
	char **nm = NULL;
	size_t nn = 0;

	while (i < len) {
		size_t j = skip_quoted(sql, i), k, idx;
		char *name, *p;

		if (j == i && sql[i] == ':' && sql[i + 1] == ':') {
			j = i + 2;
			while (sql[j] == ':')
				j++;
		}
		if (j != i) {
			/* Literal text, copied as it is. */
			if (olen + (j - i) + 1 > cap) {
				cap = olen + (j - i) + 1;
				out = ep_xrealloc(out, cap);
			}
			memcpy(out + olen, sql + i, j - i);
			olen += j - i;
			i = j;
			continue;
		}
		if (sql[i] != ':' || !ident_start(sql[i + 1])) {
			if (olen + 2 > cap) {
				cap = cap * 2 + 2;
				out = ep_xrealloc(out, cap);
			}
			out[olen++] = sql[i++];
			continue;
		}
		for (k = i + 1; ident_char(sql[k]); k++)
			;
		name = ep_xstrndup(sql + i + 1, k - i - 1);
		for (idx = 0; idx < nn; idx++)
			if (strcmp(nm[idx], name) == 0)
				break;
		if (idx == nn) {
			nm = ep_xrealloc(nm, (nn + 1) * sizeof(*nm));
			nm[nn++] = name;
		} else {
			free(name);
		}
		p = ph(idx + 1, nm[idx]);
		if (olen + strlen(p) + 1 > cap) {
			cap = (olen + strlen(p) + 1) * 2;
			out = ep_xrealloc(out, cap);
		}
		memcpy(out + olen, p, strlen(p));
		olen += strlen(p);
		free(p);
		i = k;
	}
	out[olen] = '\0';
	*names = nm;
	*nnames = nn;
	return out;
}
