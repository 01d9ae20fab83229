/* libFuzzer driver for the tds target (see targets_tds.h). */
#include "targets_tds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_tds(data, size);
}
