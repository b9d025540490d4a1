/* data.yaml as Ultralytics reads it, parsed by libyaml (YAML 1.1: flow and block collections
 * over several lines, quoting, anchors and aliases, a UTF-8 byte-order mark, comments).
 * Keys read: path (the root), train/val/test (a folder, a .txt image list, or a list of
 * them), names (a list or an index map) and nc (checked against names). Any other key
 * (download: with its Python code, ...) is ignored. Errors name the file, the line and the
 * key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/error_internal.h"
#include "data/config_internal.h"

typedef struct yaml_reader {
    yaml_document_t *doc;
    const char *name;
    ykd_data_config *config;
    ykd_error *err;
} yaml_reader;

static int line_of(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* "data.yaml:3: 'key'" for messages. */
static void where_of(const yaml_reader *r, const yaml_node_t *node, const char *key, char *buf,
                     size_t size)
{
    snprintf(buf, size, "%s:%d: '%s'", r->name, line_of(node), key);
}

static const char *text_of(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* YAML 1.1's null: an empty plain scalar, ~ or null. */
static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = text_of(node);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

/* A whole number in plain text (no sign, no fraction). */
static bool whole_number(const yaml_node_t *node, long max, long *out)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = text_of(node);
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (end == v || *end || *v == '-' || *v == '+' || n > max)
        return false;
    *out = n;
    return true;
}

/* names: [a, b] / "- a" lines, or {0: a} / "0: a" lines. */
static ykd_status read_names(yaml_reader *r, const yaml_node_t *key, yaml_node_t *value)
{
    char where[600];
    where_of(r, key, "names", where, sizeof where);
    size_t count = 0;
    if (value->type == YAML_SEQUENCE_NODE)
        count = (size_t)(value->data.sequence.items.top - value->data.sequence.items.start);
    else if (value->type == YAML_MAPPING_NODE)
        count = (size_t)(value->data.mapping.pairs.top - value->data.mapping.pairs.start);
    else if (!is_null(value))
        return ykd_fail(r->err, YKD_ERR_FORMAT,
                        "%s:%d: 'names' must be a list ([a, b] or '- a' lines) or an index map "
                        "(0: a)",
                        r->name, line_of(value));
    long *indices = malloc((count ? count : 1) * sizeof *indices);
    const char **texts = malloc((count ? count : 1) * sizeof *texts);
    ykd_status st =
        indices && texts ? YKD_OK : ykd_fail(r->err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < count && st == YKD_OK; i++) {
        yaml_node_t *item, *index = NULL;
        if (value->type == YAML_SEQUENCE_NODE) {
            item = yaml_document_get_node(r->doc, value->data.sequence.items.start[i]);
            indices[i] = (long)i;
        } else {
            yaml_node_pair_t *pair = &value->data.mapping.pairs.start[i];
            index = yaml_document_get_node(r->doc, pair->key);
            item = yaml_document_get_node(r->doc, pair->value);
            if (!whole_number(index, YKD_MAX_CLASSES, &indices[i]))
                st = ykd_fail(r->err, YKD_ERR_FORMAT, "%s:%d: 'names': key '%s' is not a class index",
                              r->name, line_of(index),
                              index->type == YAML_SCALAR_NODE ? text_of(index) : "(a collection)");
        }
        if (st == YKD_OK && (item->type != YAML_SCALAR_NODE || is_null(item)))
            st = ykd_fail(r->err, YKD_ERR_FORMAT, "%s:%d: 'names': entry %zu is not a name",
                          r->name, line_of(item), i);
        if (st == YKD_OK)
            texts[i] = text_of(item);
    }
    if (st == YKD_OK)
        st = ykd_config_set_names(r->config, indices, texts, count, where, r->err);
    free(indices);
    free(texts);
    return st;
}

/* train: folder | list.txt | [folder, ...]; null: not given. */
static ykd_status read_split(yaml_reader *r, ykd_split split, const yaml_node_t *key,
                             yaml_node_t *value)
{
    const char *name = ykd_split_name(split);
    char where[600];
    where_of(r, key, name, where, sizeof where);
    if (is_null(value))
        return YKD_OK;
    if (value->type == YAML_SCALAR_NODE)
        return ykd_config_add_source(r->config, split, text_of(value), where, r->err);
    if (value->type == YAML_SEQUENCE_NODE &&
        value->data.sequence.items.top > value->data.sequence.items.start) {
        ykd_status st = YKD_OK;
        for (yaml_node_item_t *i = value->data.sequence.items.start;
             i < value->data.sequence.items.top && st == YKD_OK; i++) {
            yaml_node_t *item = yaml_document_get_node(r->doc, *i);
            if (item->type != YAML_SCALAR_NODE || is_null(item))
                return ykd_fail(r->err, YKD_ERR_FORMAT,
                                "%s:%d: '%s': each entry must be a folder or a .txt list",
                                r->name, line_of(item), name);
            st = ykd_config_add_source(r->config, split, text_of(item), where, r->err);
        }
        return st;
    }
    return ykd_fail(r->err, YKD_ERR_FORMAT,
                    "%s must be a folder of images, a .txt list of images, or a non-empty list "
                    "of them",
                    where);
}

enum { KEY_NAMES, KEY_NC, KEY_PATH, KEY_TRAIN, KEY_VAL, KEY_TEST, KEY_COUNT };
static const char *const read_keys[KEY_COUNT] = {"names", "nc", "path", "train", "val", "test"};

static ykd_status read_pair(yaml_reader *r, int k, const yaml_node_t *key, yaml_node_t *value,
                            long *nc)
{
    ykd_split split;
    switch (k) {
    case KEY_NAMES:
        return read_names(r, key, value);
    case KEY_NC:
        if (!whole_number(value, YKD_MAX_CLASSES, nc))
            return ykd_fail(r->err, YKD_ERR_FORMAT, "%s:%d: 'nc' must be a whole number",
                            r->name, line_of(value));
        return YKD_OK;
    case KEY_PATH: {
        if (is_null(value))
            return YKD_OK;
        char where[600];
        where_of(r, key, "path", where, sizeof where);
        if (value->type != YAML_SCALAR_NODE)
            return ykd_fail(r->err, YKD_ERR_FORMAT, "%s must be a folder (the dataset's root)",
                            where);
        return ykd_config_set_root(r->config, r->name, text_of(value), where, r->err);
    }
    default:
        ykd_config_split_of(read_keys[k], &split);
        return read_split(r, split, key, value);
    }
}

static ykd_status read_document(yaml_reader *r)
{
    yaml_node_t *root = yaml_document_get_root_node(r->doc);
    if (!root)
        return ykd_fail(r->err, YKD_ERR_FORMAT, "%s: empty (no 'names' key)", r->name);
    if (root->type != YAML_MAPPING_NODE)
        return ykd_fail(r->err, YKD_ERR_FORMAT,
                        "%s:%d: must hold keys and values (names:, train:, val:, ...)", r->name,
                        line_of(root));
    bool seen[KEY_COUNT] = {false};
    long nc = -1;
    ykd_status st = YKD_OK;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top && st == YKD_OK; p++) {
        yaml_node_t *key = yaml_document_get_node(r->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(r->doc, p->value);
        if (key->type != YAML_SCALAR_NODE)
            continue; /* a complex key is none of ours */
        for (int k = 0; k < KEY_COUNT && st == YKD_OK; k++) {
            if (strcmp(text_of(key), read_keys[k]) != 0)
                continue;
            if (seen[k])
                st = ykd_fail(r->err, YKD_ERR_FORMAT, "%s:%d: '%s' given twice", r->name,
                              line_of(key), read_keys[k]);
            else
                st = read_pair(r, k, key, value, &nc);
            seen[k] = true;
        }
    }
    return st == YKD_OK ? ykd_config_finish(r->config, nc, r->name, r->err) : st;
}

enum { YAML_MAX_FLOW_DEPTH = 64 };

/* The line where [ and { nest deeper than YAML_MAX_FLOW_DEPTH, or 0. libyaml's scanner takes
 * time quadratic in the flow depth (a file of 20000 '[' takes seconds), so deep nesting is
 * refused before parsing. Quotes and comments are skipped; a stray bracket in a plain scalar
 * counts, which no dataset file comes near the limit with. */
static int too_deep_at(const char *text, size_t size)
{
    int depth = 0, line = 1;
    char quote = 0;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        line += c == '\n';
        if (quote) {
            if (c == '\\' && quote == '"')
                i++;
            else if (c == quote || c == '\n')
                quote = 0; /* a line break ends nothing in YAML, but is safe for a count */
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
            while (i + 1 < size && text[i + 1] != '\n')
                i++;
        } else if (c == '[' || c == '{') {
            if (++depth > YAML_MAX_FLOW_DEPTH)
                return line;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

/* libyaml's complaint, with its line and column. */
static ykd_status parse_error(const yaml_parser_t *parser, const char *name, ykd_error *err)
{
    const yaml_mark_t *m = &parser->problem_mark;
    const char *problem = parser->problem ? parser->problem : "cannot be parsed";
    if (parser->context)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s:%zu:%zu: not valid YAML: %s %s (from line %zu)",
                        name, m->line + 1, m->column + 1, problem, parser->context,
                        parser->context_mark.line + 1);
    return ykd_fail(err, YKD_ERR_FORMAT, "%s:%zu:%zu: not valid YAML: %s", name, m->line + 1,
                    m->column + 1, problem);
}

ykd_status ykd_data_config_parse_yaml(const char *text, size_t size, const char *name,
                                      ykd_data_config *config, ykd_error *err)
{
    memset(config, 0, sizeof *config);
    int deep = too_deep_at(text, size);
    if (deep)
        return ykd_fail(err, YKD_ERR_FORMAT, "%s:%d: lists or maps nested deeper than %d levels",
                        name, deep, YAML_MAX_FLOW_DEPTH);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory for the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    yaml_document_t doc;
    ykd_status st = YKD_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        st = parse_error(&parser, name, err);
    } else {
        yaml_reader r = {&doc, name, config, err};
        st = read_document(&r);
        yaml_document_delete(&doc);
        /* a second document would be silently ignored: refuse it */
        if (st == YKD_OK) {
            if (!yaml_parser_load(&parser, &doc)) {
                st = parse_error(&parser, name, err);
            } else {
                if (yaml_document_get_root_node(&doc))
                    st = ykd_fail(err, YKD_ERR_FORMAT,
                                  "%s:%zu: a second YAML document ('---'): one is read",
                                  name, doc.start_mark.line + 1);
                yaml_document_delete(&doc);
            }
        }
    }
    yaml_parser_delete(&parser);
    if (st != YKD_OK)
        ykd_data_config_free(config);
    return st;
}
