/*
 * yaml-json - YAML documents in, JSON out: one compact JSON value per
 * document, one a line (NDJSON), or with -t json one array of them all.
 * The pipeline scripts read YAML configuration (the seed's tablelist.yaml
 * and tablesconf.yaml) through it and do the rest with jq.
 *
 * Parsed with libyaml.  Plain scalars that are JSON numbers, true, false,
 * null (or ~, or empty) become those; every other scalar, and every
 * quoted one, a string (the YAML 1.2 core schema: yes/no/on/off stay
 * strings; tags are not looked at).  Mapping keys must be scalars and
 * unique.  An alias is the
 * node its anchor names; since aliases can multiply a small file into a
 * huge value ("billion laughs"), the expanded size of each document is
 * bounded (--max-nodes nodes, --max-bytes bytes of scalars), and so are
 * the file's size (--max-bytes) and the nesting (--max-depth).  An alias
 * to a node that contains it is an error.
 *
 * Every file is read and converted before anything is written: a bad
 * file (exit 65, "yaml-json: FILE:LINE: why") leaves no partial output.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "atomic.h"
#include "cli.h"

static const char usage_text[] =
"usage: yaml-json [-t ndjson|json] [-o FILE] [--max-bytes N]\n"
"                 [--max-depth N] [--max-nodes N] [-v | -q] [FILE ...]\n"
"\n"
"Convert YAML documents to JSON: one compact value per document, one a\n"
"line.  FILEs in order ('-' is stdin), or stdin.  Nothing is written\n"
"unless every document converts.\n"
"\n"
"  -t, --to F            ndjson (default: a line per document) or json\n"
"                        (one array of every document)\n"
"  -o, --output FILE     write to FILE atomically (default stdout)\n"
"  --max-bytes N         the largest file, and the most bytes of scalars\n"
"                        a document may expand to through aliases\n"
"                        (default 16777216)\n"
"  --max-depth N         the deepest nesting of sequences and mappings\n"
"                        (default 64)\n"
"  --max-nodes N         the most nodes a document may expand to through\n"
"                        aliases (default 1000000)\n"
"  -v, --verbose         the document count on stderr\n"
"  -q, --quiet           only errors on stderr\n"
"  -h, --help            this help\n"
"      --version         the version\n"
"\n"
"Scalars: plain ones that are JSON numbers, true, false, null, ~ or\n"
"empty become those; every other scalar is a string.  Mapping keys must\n"
"be scalars and unique.\n"
"\n"
"Exit: 0 ok, 2 usage, 65 bad YAML or a limit passed, 66 missing file,\n"
"74 read or write error.\n";

enum {
	OPT_MAX_BYTES = EP_OPT_FIRST_PROGRAM,
	OPT_MAX_DEPTH,
	OPT_MAX_NODES
};

struct limits {
	size_t bytes, depth, nodes;
};

/* One document being converted. */
struct conv {
	const char *file;
	yaml_document_t *doc;
	const struct limits *lim;
	json_t **memo;		/* per node id: its value, once converted */
	size_t *memo_nodes;	/* and its expanded size */
	size_t *memo_bytes;
	unsigned char *busy;	/* being converted (an alias to it loops) */
	size_t nodes, bytes;	/* expanded so far */
	struct ep_error *err;
};

static json_t *convert(struct conv *c, int id, size_t depth);

static int
read_file(const char *path, size_t max, char **buf, size_t *len,
    struct ep_error *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 65536, n = 0, r;
	char *b;

	if (f == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    errno == EACCES ? EP_EXIT_NOPERM : EP_EXIT_IOERR,
		    "%s: %s", path, strerror(errno));
		return -1;
	}
	b = ep_xmalloc(cap);
	while ((r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n > max) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s: larger than "
			    "--max-bytes (%zu bytes)", path, max);
			goto fail;
		}
		if (n == cap)
			b = ep_xrealloc(b, cap *= 2);
	}
	if (ferror(f)) {
		ep_error_set(err, EP_EXIT_IOERR, "%s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	*buf = b;
	*len = n;
	return 0;
fail:
	if (f != stdin)
		fclose(f);
	free(b);
	return -1;
}

static int
fail_at(struct conv *c, const yaml_node_t *n, const char *why)
{
	ep_error_set(c->err, EP_EXIT_DATAERR, "%s:%lu: %s", c->file,
	    (unsigned long)n->start_mark.line + 1, why);
	return -1;
}

/* Whether s is a JSON number (RFC 8259 grammar). */
static bool
is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static json_t *
scalar(struct conv *c, yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;

	if (strlen(v) != len) {
		fail_at(c, n, "a scalar holds a NUL character");
		return NULL;
	}
	/* Tags are not looked at: libyaml gives every untagged scalar the
	   str tag, so only the style tells a plain scalar. */
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
		    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)
			return json_null();
		if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
		    strcmp(v, "TRUE") == 0)
			return json_true();
		if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
		    strcmp(v, "FALSE") == 0)
			return json_false();
		if (is_json_number(v)) {
			char *end;
			long long i;

			errno = 0;
			i = strtoll(v, &end, 10);
			if (*end == '\0' && errno == 0)
				return json_integer(i);
			if (strpbrk(v, ".eE") != NULL) {
				double d = strtod(v, &end);

				if (*end == '\0' && errno == 0)
					return json_real(d);
			}
			/* Too large for a number here: kept as text. */
		}
	}
	json_t *str = json_stringn(v, len);

	if (str == NULL)
		fail_at(c, n, "a scalar is not valid UTF-8");
	return str;
}

static json_t *
sequence(struct conv *c, yaml_node_t *n, size_t depth)
{
	json_t *a = json_array();

	for (yaml_node_item_t *i = n->data.sequence.items.start;
	    i < n->data.sequence.items.top; i++) {
		json_t *v = convert(c, *i, depth + 1);

		if (v == NULL || json_array_append_new(a, v) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
mapping(struct conv *c, yaml_node_t *n, size_t depth)
{
	json_t *o = json_object();

	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	    p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		json_t *v;
		char *key;

		if (k == NULL || k->type != YAML_SCALAR_NODE) {
			fail_at(c, k != NULL ? k : n, "a mapping key must be "
			    "a scalar");
			goto fail;
		}
		key = (char *)k->data.scalar.value;
		if (strlen(key) != k->data.scalar.length) {
			fail_at(c, k, "a mapping key holds a NUL character");
			goto fail;
		}
		if (json_object_get(o, key) != NULL) {
			char *m = ep_xasprintf("the key '%s' appears twice in "
			    "one mapping", key);

			fail_at(c, k, m);
			free(m);
			goto fail;
		}
		c->nodes++;
		c->bytes += k->data.scalar.length;
		if ((v = convert(c, p->value, depth + 1)) == NULL)
			goto fail;
		if (json_object_set_new(o, key, v) < 0) {
			fail_at(c, k, "a mapping key is not valid UTF-8");
			goto fail;
		}
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *
convert(struct conv *c, int id, size_t depth)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, id);
	size_t nodes0 = c->nodes, bytes0 = c->bytes;
	json_t *v;

	if (n == NULL) {
		ep_error_set(c->err, EP_EXIT_DATAERR, "%s: a node the parser "
		    "did not make", c->file);
		return NULL;
	}
	if (c->busy[id]) {
		fail_at(c, n, "an alias refers to a node that contains it");
		return NULL;
	}
	if (c->memo[id] != NULL) {
		/* Seen before: an alias.  It counts again, expanded. */
		c->nodes += c->memo_nodes[id];
		c->bytes += c->memo_bytes[id];
		v = json_incref(c->memo[id]);
		goto check;
	}
	if (n->type != YAML_SCALAR_NODE && depth > c->lim->depth) {
		fail_at(c, n, "nested deeper than --max-depth");
		return NULL;
	}
	c->busy[id] = 1;
	c->nodes++;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		c->bytes += n->data.scalar.length;
		v = scalar(c, n);
		break;
	case YAML_SEQUENCE_NODE:
		v = sequence(c, n, depth);
		break;
	case YAML_MAPPING_NODE:
		v = mapping(c, n, depth);
		break;
	default:
		v = NULL;
		fail_at(c, n, "an empty node");
	}
	c->busy[id] = 0;
	if (v == NULL)
		return NULL;
	c->memo[id] = json_incref(v);
	c->memo_nodes[id] = c->nodes - nodes0;
	c->memo_bytes[id] = c->bytes - bytes0;
check:
	if (c->nodes > c->lim->nodes || c->bytes > c->lim->bytes) {
		json_decref(v);
		fail_at(c, n, c->nodes > c->lim->nodes ? "the document expands "
		    "to more than --max-nodes nodes (aliases)" : "the document "
		    "expands to more than --max-bytes bytes (aliases)");
		return NULL;
	}
	return v;
}

/* Every document of one file appended to docs. */
static int
convert_file(const char *path, const struct limits *lim, json_t *docs,
    struct ep_error *err)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	yaml_parser_t parser;
	yaml_document_t doc;
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if (read_file(path, lim->bytes, &buf, &len, err) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		ep_die(EP_EXIT_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		struct conv c = { .file = name, .doc = &doc, .lim = lim,
		    .err = err };
		yaml_node_t *root;
		size_t count;
		json_t *v = NULL;

		if (!yaml_parser_load(&parser, &doc)) {
			ep_error_set(err, EP_EXIT_DATAERR, "%s:%lu: %s%s%s",
			    name, (unsigned long)parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "not YAML",
			    parser.context ? " " : "",
			    parser.context ? parser.context : "");
			goto done;
		}
		if ((root = yaml_document_get_root_node(&doc)) == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		count = (size_t)(doc.nodes.top - doc.nodes.start) + 1;
		c.memo = ep_xcalloc(count, sizeof(*c.memo));
		c.memo_nodes = ep_xcalloc(count, sizeof(size_t));
		c.memo_bytes = ep_xcalloc(count, sizeof(size_t));
		c.busy = ep_xcalloc(count, 1);
		v = convert(&c, 1, 1);
		for (size_t i = 0; i < count; i++)
			json_decref(c.memo[i]);
		free(c.memo);
		free(c.memo_nodes);
		free(c.memo_bytes);
		free(c.busy);
		yaml_document_delete(&doc);
		if (v == NULL)
			goto done;
		json_array_append_new(docs, v);
	}
	rc = 0;
done:
	yaml_parser_delete(&parser);
	free(buf);
	return rc;
}

static size_t
limit_opt(const char *opt, const char *arg)
{
	long v = ep_cli_long(usage_text, opt, arg, 1L << 40);

	if (v == 0)
		ep_usage_error(usage_text, "%s must be at least 1", opt);
	return (size_t)v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		EP_TO_LONGOPTS,
		{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
		{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
		{ "max-nodes", required_argument, NULL, OPT_MAX_NODES },
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct limits lim = { 16u << 20, 64, 1000000 };
	struct ep_error e = { 0, "" };
	struct ep_out *out = NULL;
	json_t *docs;
	bool array = false;
	size_t i;
	int ch;

	ep_cli_init(argc, argv);
	while ((ch = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS
	    EP_TO_SHORTOPTS, longopts, NULL)) != -1)
		switch (ch) {
		case OPT_MAX_BYTES:
			lim.bytes = limit_opt("--max-bytes", optarg);
			break;
		case OPT_MAX_DEPTH:
			lim.depth = limit_opt("--max-depth", optarg);
			break;
		case OPT_MAX_NODES:
			lim.nodes = limit_opt("--max-nodes", optarg);
			break;
		default:
			ep_cli_common(ch, argv, usage_text);
		}
	if (ep_io.to != NULL) {
		if (strcmp(ep_io.to, "json") == 0)
			array = true;
		else if (strcmp(ep_io.to, "ndjson") != 0)
			ep_usage_error(usage_text, "unknown format '%s' "
			    "(ndjson, json)", ep_io.to);
	}

	docs = json_array();
	if (optind == argc) {
		if (convert_file("-", &lim, docs, &e) < 0)
			goto fail;
	}
	for (int a = optind; a < argc; a++)
		if (convert_file(argv[a], &lim, docs, &e) < 0)
			goto fail;
	if ((out = ep_out_open(ep_io.output, &e)) == NULL)
		goto fail;
	if (array) {
		if (json_dumpf(docs, ep_out_file(out), JSON_COMPACT |
		    JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) < 0 ||
		    fputc('\n', ep_out_file(out)) == EOF) {
			ep_error_set(&e, EP_EXIT_IOERR, "write error");
			goto fail;
		}
	} else {
		json_t *v;

		json_array_foreach(docs, i, v) {
			if (json_dumpf(v, ep_out_file(out), JSON_COMPACT |
			    JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
			    JSON_REAL_PRECISION(15)) < 0 ||
			    fputc('\n', ep_out_file(out)) == EOF) {
				ep_error_set(&e, EP_EXIT_IOERR, "write error");
				goto fail;
			}
		}
	}
	ep_info(1, "%zu documents", json_array_size(docs));
	json_decref(docs);
	if (ep_out_commit(out, &e) < 0)
		return ep_report(&e);
	return ep_close_stdout();
fail:
	ep_out_abort(out);
	json_decref(docs);
	return ep_report(&e);
}
