/* What the fuzz harnesses share. Each fuzz_<target>.c defines LLVMFuzzerTestOneInput, which
 * hands the input to one of the library's readers and checks only that it returns (a fault is
 * a clean error); ASan and UBSan find the rest. Built with -Dfuzz=true (clang, libFuzzer's
 * main) by tools/fuzz, or with standalone_main.c into the normal build, where tests/test-fuzz
 * replays the corpora. */
#ifndef YKD_FUZZ_H
#define YKD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to NAME in a folder of this process's own (created on first use, removed at
 * exit) and returns the folder, or NULL when it cannot (the input is then skipped). */
const char *ykd_fuzz_write_file(const char *name, const uint8_t *data, size_t size);

/* The input as a NUL-terminated copy (malloc'd; NULL when out of memory). */
char *ykd_fuzz_text(const uint8_t *data, size_t size);

#endif
