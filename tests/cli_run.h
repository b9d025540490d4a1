/* Runs the yolokd command in-process and captures what it prints, for tests. */
#ifndef YKD_TEST_CLI_RUN_H
#define YKD_TEST_CLI_RUN_H

typedef struct run_result {
    int code;
    char *out;
    char *err;
} run_result;

/* Runs `yolokd args...` (NULL-terminated) and captures both streams. */
run_result run_cli(const char *first, ...);
void free_result(run_result *r);

#endif
