/*
 * db_mssql.c - placeholder until the FreeTDS backend lands: every
 * mssql:// URL is refused as not supported.
 */
#include "db.h"

static void *
ms_open(const char *url, const char *password, int flags,
    struct ep_error *err)
{
	(void)url;
	(void)password;
	(void)flags;
	ep_error_set(err, EP_EXIT_CONFIG, "mssql:// is not supported yet");
	return NULL;
}

const struct ep_db_ops ep_db_mssql_ops = {
	.name = "mssql",
	.open = ms_open,
};
