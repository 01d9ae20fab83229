/*
 * migrate.h - db-load --migrate: versioned schema migration files.
 */
#ifndef EP_MIGRATE_H
#define EP_MIGRATE_H

#include "db.h"

/*
 * Apply the migration files of dir that the database has not had yet,
 * in version order, and record each in the table schema_version.
 * 0, or -1 with err (that migration rolled back).
 */
int ep_migrate(struct ep_db *db, const char *dir, struct ep_error *err);

/*
 * Split sql into statements at ';' outside quotes and comments.  Returns
 * a malloc'd array of malloc'd statements (*n long); statements holding
 * only blanks and comments are left out.
 */
char **ep_sql_split(const char *sql, size_t *n);

#endif
