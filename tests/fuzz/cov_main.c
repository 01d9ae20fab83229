/*
 * cov_main.c - a plain main for the coverage builds of the fuzz targets
 * (`make fuzz-cov`): runs LLVMFuzzerTestOneInput once on every file of
 * the directories given, as libFuzzer would on its corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	long n = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (d == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d)) != NULL) {
			char path[4096];
			FILE *fp;
			uint8_t *buf;
			long len;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    e->d_name);
			if ((fp = fopen(path, "rb")) == NULL)
				continue;
			fseek(fp, 0, SEEK_END);
			len = ftell(fp);
			rewind(fp);
			buf = malloc(len > 0 ? (size_t)len : 1);
			if (len < 0 || fread(buf, 1, (size_t)len, fp) !=
			    (size_t)len)
				len = 0;
			fclose(fp);
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			free(buf);
			n++;
		}
		closedir(d);
	}
	fprintf(stderr, "%ld inputs\n", n);
	return 0;
}
