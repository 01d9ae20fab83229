/* libFuzzer driver for the canvas target (see targets_lms.h). */
#include "targets_lms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_canvas(data, size);
}
