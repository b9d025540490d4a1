/* The small part of YAML that dataset files use:
 *   key: value            plain, 'single' or "double" quoted scalars
 *   names: [a, b]         a flow list, or {0: a, 1: b} a flow map
 *   names:                a block list ("- a" lines) or an index map ("0: a" lines)
 *   # comments, blank lines; other keys (path, test, download, ...) are ignored, with any
 *   block or "|" text under them.
 * The keys read are names, nc, train and val; a wrong shape is an error naming the key and
 * the line. Anchors, tags and multi-document files are not supported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "data/config_internal.h"

enum { YAML_LINE_MAX = 4096 };

typedef enum block_kind { BLOCK_NONE, BLOCK_NAMES, BLOCK_IGNORED } block_kind;

typedef struct yaml_parser {
    const char *name;
    ykd_data_config *config;
    ykd_error *err;
    int line;
    long nc;
    block_kind block;
    int names_line;  /* where the names key is, for messages */
    int names_style; /* 0 not yet, 1 "- a" lines, 2 "0: a" lines */
    long *indices;
    char **items;
    size_t count, capacity;
} yaml_parser;

static ykd_status yaml_error(yaml_parser *p, const char *key, const char *what)
{
    if (key)
        return ykd_fail(p->err, YKD_ERR_FORMAT, "%s:%d: '%s' %s", p->name, p->line, key, what);
    return ykd_fail(p->err, YKD_ERR_FORMAT, "%s:%d: %s", p->name, p->line, what);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Cuts a comment: '#' at the start or after a blank, outside quotes. */
static void strip_comment(char *s)
{
    char quote = 0;
    for (char *c = s; *c; c++) {
        if (quote) {
            if (*c == quote)
                quote = 0;
        } else if (*c == '\'' || *c == '"') {
            quote = *c;
        } else if (*c == '#' && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
            *c = '\0';
            return;
        }
    }
}

/* A scalar in place: quotes removed ('' and \" \\ unescaped). false when malformed. */
static bool scalar(char *s, char **out)
{
    s = trim(s);
    if (*s != '\'' && *s != '"') {
        *out = s;
        return *s != '[' && *s != '{';
    }
    char quote = *s, *w = s, *r = s + 1;
    for (;; r++) {
        if (*r == '\0')
            return false;
        if (*r == quote && quote == '\'' && r[1] == '\'') {
            *w++ = *r++;
        } else if (*r == quote) {
            break;
        } else if (*r == '\\' && quote == '"' && (r[1] == '"' || r[1] == '\\')) {
            *w++ = *++r;
        } else {
            *w++ = *r;
        }
    }
    if (*trim(r + 1) != '\0')
        return false; /* text after the closing quote */
    *w = '\0';
    *out = s;
    return true;
}

/* Splits a flow collection's inside at commas outside quotes; calls add for each item. */
static ykd_status split_flow(yaml_parser *p, char *inside, bool map,
                             ykd_status (*add)(yaml_parser *, char *, bool))
{
    char quote = 0, *start = inside;
    for (char *c = inside;; c++) {
        if (quote && *c == quote)
            quote = 0;
        else if (!quote && (*c == '\'' || *c == '"'))
            quote = *c;
        else if (!quote && (*c == '[' || *c == '{' || *c == ']' || *c == '}'))
            return yaml_error(p, "names", "has a nested or unbalanced bracket");
        if (*c != '\0' && (quote || *c != ','))
            continue;
        bool last = *c == '\0';
        if (last && quote)
            return yaml_error(p, "names", "has an unterminated quote");
        *c = '\0';
        char *item = trim(start);
        if (*item != '\0' || !last) { /* a trailing comma leaves an empty last item */
            ykd_status st = add(p, item, map);
            if (st != YKD_OK)
                return st;
        }
        if (last)
            return YKD_OK;
        start = c + 1;
    }
}

/* One name: a list item ("a") or a map entry ("0: a"). */
static ykd_status add_name(yaml_parser *p, char *text, bool map)
{
    long index = (long)p->count;
    if (map) {
        char *colon = strchr(text, ':');
        char *end = NULL;
        if (!colon)
            return yaml_error(p, "names", "map entry needs 'index: name'");
        *colon = '\0';
        char *key = trim(text);
        index = strtol(key, &end, 10);
        if (end == key || *end != '\0')
            return yaml_error(p, "names", "map key is not a class index");
        text = colon + 1;
    }
    char *value = NULL;
    if (!scalar(text, &value) || *value == '\0')
        return yaml_error(p, "names", "entry is not a plain or quoted name");
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 16;
        long *indices = realloc(p->indices, capacity * sizeof *indices);
        if (indices)
            p->indices = indices;
        char **items = realloc(p->items, capacity * sizeof *items);
        if (items)
            p->items = items;
        if (!indices || !items)
            return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        p->capacity = capacity;
    }
    if (!(p->items[p->count] = strdup(value)))
        return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    p->indices[p->count++] = index;
    return YKD_OK;
}

/* Hands the collected names to the config. */
static ykd_status finish_names(yaml_parser *p)
{
    char where[600];
    snprintf(where, sizeof where, "%s:%d: 'names'", p->name, p->names_line);
    ykd_status st = ykd_config_set_names(p->config, p->indices, (const char *const *)p->items,
                                         p->count, where, p->err);
    for (size_t i = 0; i < p->count; i++)
        free(p->items[i]);
    p->count = 0;
    return st;
}

static ykd_status names_value(yaml_parser *p, char *value)
{
    size_t n = strlen(value);
    bool list = value[0] == '[', map = value[0] == '{';
    if ((!list && !map) || value[n - 1] != (list ? ']' : '}'))
        return yaml_error(p, "names",
                          "must be a list ([a, b] or '- a' lines) or an index map "
                          "({0: a} or '0: a' lines)");
    value[n - 1] = '\0';
    ykd_status st = split_flow(p, value + 1, map, add_name);
    return st == YKD_OK ? finish_names(p) : st;
}

static ykd_status path_value(yaml_parser *p, char *slot_key, char **slot, char *value)
{
    char *path = NULL;
    if (value[0] == '[' || value[0] == '{')
        return yaml_error(p, slot_key, "must be a single folder path, not a list or map");
    if (!scalar(value, &path))
        return yaml_error(p, slot_key, "has a malformed quoted value");
    char where[600];
    snprintf(where, sizeof where, "%s:%d: '%s'", p->name, p->line, slot_key);
    return ykd_config_set_path(slot, path, where, p->err);
}

static ykd_status nc_value(yaml_parser *p, char *value)
{
    char *end = NULL;
    long nc = strtol(value, &end, 10);
    if (end == value || *end != '\0' || nc < 0)
        return yaml_error(p, "nc", "must be a whole number");
    p->nc = nc;
    return YKD_OK;
}

/* A top-level "key: value" (value may be empty: a block follows). */
static ykd_status top_level(yaml_parser *p, char *content)
{
    char *colon = content;
    while ((colon = strchr(colon, ':')) && colon[1] != '\0' && colon[1] != ' ')
        colon++;
    if (!colon || colon == content)
        return yaml_error(p, NULL, "expected 'key: value'");
    *colon = '\0';
    char *key = trim(content), *value = trim(colon + 1);
    bool known =
        !strcmp(key, "names") || !strcmp(key, "train") || !strcmp(key, "val") || !strcmp(key, "nc");
    if (!known) {
        p->block = BLOCK_IGNORED;
        return YKD_OK;
    }
    if (*value == '|' || *value == '>')
        return yaml_error(p, key, "cannot be a block of text");
    if (*value == '\0') {
        if (strcmp(key, "names") != 0)
            return yaml_error(p, key, "needs a value on the same line");
        if (p->config->names || p->names_line)
            return yaml_error(p, key, "given twice");
        p->block = BLOCK_NAMES;
        p->names_line = p->line;
        return YKD_OK;
    }
    if (!strcmp(key, "names")) {
        if (p->names_line)
            return yaml_error(p, key, "given twice");
        p->names_line = p->line;
        return names_value(p, value);
    }
    if (!strcmp(key, "nc"))
        return nc_value(p, value);
    return path_value(p, key, !strcmp(key, "train") ? &p->config->train : &p->config->val, value);
}

/* A line inside the names block: "- a" or "0: a", one style throughout. */
static ykd_status names_line(yaml_parser *p, char *content)
{
    int style = (content[0] == '-' && (content[1] == ' ' || content[1] == '\0')) ? 1 : 2;
    if (p->names_style && style != p->names_style)
        return yaml_error(p, "names", "mixes '- name' lines and 'index: name' lines");
    p->names_style = style;
    return add_name(p, style == 1 ? content + 1 : content, style == 2);
}

static ykd_status parse_line(yaml_parser *p, char *line)
{
    strip_comment(line);
    size_t indent = strspn(line, " ");
    if (line[indent] == '\t')
        return yaml_error(p, NULL, "tab in indentation (YAML allows spaces only)");
    char *content = trim(line);
    if (*content == '\0')
        return YKD_OK;
    bool item = content[0] == '-' && (content[1] == ' ' || content[1] == '\0');
    if (indent > 0 || (item && p->block == BLOCK_NAMES)) {
        if (p->block == BLOCK_NAMES)
            return names_line(p, content);
        if (p->block == BLOCK_IGNORED)
            return YKD_OK;
        return yaml_error(p, NULL, "unexpected indented line");
    }
    if (p->block == BLOCK_NAMES) {
        ykd_status st = finish_names(p);
        if (st != YKD_OK)
            return st;
    }
    p->block = BLOCK_NONE;
    return top_level(p, content);
}

static ykd_status parse_all(yaml_parser *p, const char *text, size_t size)
{
    const char *s = text, *end = text + size;
    for (p->line = 1; s < end; p->line++) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((eol ? eol : end) - s);
        if (n >= YAML_LINE_MAX)
            return yaml_error(p, NULL, "line too long");
        char line[YAML_LINE_MAX];
        memcpy(line, s, n);
        line[n] = '\0';
        if (strlen(line) != n)
            return yaml_error(p, NULL, "NUL byte in the text");
        ykd_status st = parse_line(p, line);
        if (st != YKD_OK)
            return st;
        s += n + 1;
    }
    if (p->block == BLOCK_NAMES)
        return finish_names(p);
    return YKD_OK;
}

ykd_status ykd_data_config_parse_yaml(const char *text, size_t size, const char *name,
                                      ykd_data_config *config, ykd_error *err)
{
    memset(config, 0, sizeof *config);
    yaml_parser p = {.name = name, .config = config, .err = err, .nc = -1};
    ykd_status st = parse_all(&p, text, size);
    for (size_t i = 0; i < p.count; i++)
        free(p.items[i]);
    free(p.items);
    free(p.indices);
    if (st == YKD_OK)
        st = ykd_config_finish(config, p.nc, name, err);
    if (st != YKD_OK)
        ykd_data_config_free(config);
    return st;
}
