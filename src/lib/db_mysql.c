/*
 * db_mysql.c - placeholder while the backend is written (issue 12).
 */
#include "db.h"

static void *
mysql_open(const char *url, const char *password, int flags,
    struct ep_error *err)
{
	(void)password;
	(void)flags;
	ep_error_set(err, EP_EXIT_CONFIG, "'%s': the mysql backend is not "
	    "built yet", url);
	return NULL;
}

const struct ep_db_ops ep_db_mysql_ops = {
	.name = "mysql",
	.open = mysql_open,
};
