/*
 * bare.c - the floor for enroll-diff: read every line of the files named
 * and hash it (FNV-1a, 64 bits), nothing else.  Prints the xor of the
 * hashes so the work cannot be optimised away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	uint64_t x = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "r");

		if (fp == NULL) {
			perror(argv[i]);
			return 66;
		}
		while ((n = getline(&line, &cap, fp)) > 0) {
			uint64_t h = 14695981039346656037ULL;

			for (ssize_t k = 0; k < n; k++) {
				h ^= (unsigned char)line[k];
				h *= 1099511628211ULL;
			}
			x ^= h;
		}
		fclose(fp);
	}
	free(line);
	printf("%llu\n", (unsigned long long)x);
	return 0;
}
