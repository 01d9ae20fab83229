/*
 * test_corpus.c - replay every file of tests/fuzz/corpus/TARGET/ through
 * its fuzz target: what the fuzzer found stays found.
 */
#include <dirent.h>
#include <stdlib.h>

#include "../fuzz/targets.h"
#include "../fuzz/targets_lms.h"
#include "../fuzz/targets_tds.h"
#include "tap.h"

static void
replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
	char *dir = ep_xasprintf("%s/%s", getenv("EDPIPE_CORPUS") ?
	    getenv("EDPIPE_CORPUS") : "tests/fuzz/corpus", target);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ok(d != NULL, "corpus: %s exists", dir);
	while (d && (e = readdir(d)) != NULL) {
		char *p;
		FILE *fp;
		char *buf = NULL;
		size_t cap = 0;
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		p = ep_xasprintf("%s/%s", dir, e->d_name);
		fp = fopen(p, "r");
		if (fp != NULL) {
			len = getdelim(&buf, &cap, '\0', fp);
			/* Files holding NUL bytes: read the whole thing. */
			fseek(fp, 0, SEEK_END);
			len = ftell(fp);
			rewind(fp);
			buf = realloc(buf, (size_t)len + 1);
			if (fread(buf, 1, (size_t)len, fp) != (size_t)len)
				len = 0;
			fclose(fp);
			fn((const uint8_t *)buf, (size_t)len);
			n++;
		}
		free(buf);
		free(p);
	}
	if (d)
		closedir(d);
	ok(n > 0, "corpus: replayed %d %s inputs without a fault", n, target);
	free(dir);
}

int
main(void)
{
	replay("ndjson", fuzz_ndjson);
	replay("csv", fuzz_csv);
	replay("url", fuzz_url);
	replay("mapping", fuzz_mapping);
	replay("moodle", fuzz_moodle);
	replay("canvas", fuzz_canvas);
	replay("http_headers", fuzz_http_headers);
	replay("tds", fuzz_tds);
	return done_testing();
}
