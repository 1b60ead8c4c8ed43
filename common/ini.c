/*
 * ini.c — oslo.config's INI syntax (ini.h), line by line as
 * oslo_config/iniparser.py's BaseParser.parse reads it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/ini.h"
#include "common/utf8.h"

void tl_ini_init(struct tl_ini *ini)
{
	memset(ini, 0, sizeof(*ini));
}

void tl_ini_fini(struct tl_ini *ini)
{
	size_t i;

	for (i = 0; i < ini->n; i++) {
		free(ini->e[i].section);
		free(ini->e[i].key);
		free(ini->e[i].value);
	}
	free(ini->e);
	for (i = 0; i < ini->n_files; i++)
		free(ini->files[i]);
	free(ini->files);
	memset(ini, 0, sizeof(*ini));
}

/* oslo.config's group names: DEFAULT as it is, others in lower case. */
static char *norm_section(const char *s, size_t n)
{
	char *out = strndup(s, n);
	size_t i;

	if (!out || strcmp(out, "DEFAULT") == 0)
		return out;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return out;
}

static bool section_eq(const char *normalized, const char *asked)
{
	if (strcmp(asked, "DEFAULT") == 0 || strcmp(normalized, "DEFAULT") == 0)
		return strcmp(normalized, asked) == 0;
	return strcasecmp(normalized, asked) == 0;
}

struct parse {
	struct tl_ini *ini;
	const char *file;
	char *section; /* owned; NULL before the first */
	struct tl_buf key, value;
	bool in_key; /* an assignment is being gathered (continuations) */
	unsigned key_line;
	struct tl_buf *why;
};

static int fail(struct parse *p, unsigned line, int rc, const char *msg)
{
	if (p->why)
		tl_buf_printf(p->why, "%s:%u: %s", p->file, line, msg);
	return rc;
}

/* Stores the assignment gathered (ConfigParser.assignment). */
static int flush(struct parse *p)
{
	struct tl_ini *ini = p->ini;
	struct tl_ini_entry *e;

	if (!p->in_key)
		return 0;
	p->in_key = false;
	if (!p->section)
		return fail(p, p->key_line, -EINVAL, "an assignment before any [section]");
	if (ini->n >= TL_INI_MAX_ENTRIES)
		return fail(p, p->key_line, -E2BIG, "too many assignments");
	if (ini->n == ini->cap) {
		size_t cap = ini->cap ? ini->cap * 2 : 64;
		struct tl_ini_entry *ne = realloc(ini->e, cap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		ini->e = ne;
		ini->cap = cap;
	}
	if (tl_buf_error(&p->key) || tl_buf_error(&p->value))
		return -ENOMEM;
	e = &ini->e[ini->n];
	memset(e, 0, sizeof(*e));
	e->section = strdup(p->section);
	e->key = strndup(p->key.data ? p->key.data : "", p->key.len);
	e->value = strndup(p->value.data ? p->value.data : "", p->value.len);
	e->file = p->file;
	e->line = p->key_line;
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		free(e->value);
		return -ENOMEM;
	}
	ini->n++;
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/* Python's str.strip() for the ASCII blanks a config file has. */
static void strip(const char **s, size_t *n)
{
	while (*n && (blank(**s) || **s == '\n' || **s == '\r')) {
		(*s)++;
		(*n)--;
	}
	while (*n && (blank((*s)[*n - 1]) || (*s)[*n - 1] == '\n' || (*s)[*n - 1] == '\r'))
		(*n)--;
}

/* One line, without its end and with trailing blanks removed (line.rstrip()). */
static int parse_line(struct parse *p, unsigned lineno, const char *s, size_t n)
{
	const char *eq, *colon, *sep, *k, *v;
	size_t kn, vn;
	int rc;

	if (n == 0) /* a blank line ends a value */
		return flush(p);
	if (s[0] == ' ' || s[0] == '\t') {
		if (!p->in_key)
			return fail(p, lineno, -EINVAL,
				    "a continuation line with no key before it");
		while (n && blank(*s)) {
			s++;
			n--;
		}
		tl_buf_putc(&p->value, '\n');
		tl_buf_append(&p->value, s, n);
		return 0;
	}
	rc = flush(p);
	if (rc < 0)
		return rc;
	if (s[0] == '[') {
		if (s[n - 1] != ']')
			return fail(p, lineno, -EINVAL,
				    "a section header that does not end with ']'");
		if (n <= 2)
			return fail(p, lineno, -EINVAL, "a section header with no name");
		free(p->section);
		p->section = norm_section(s + 1, n - 2);
		return p->section ? 0 : -ENOMEM;
	}
	if (s[0] == '#' || s[0] == ';')
		return 0;
	eq = memchr(s, '=', n);
	colon = memchr(s, ':', n);
	if (!eq && !colon)
		return fail(p, lineno, -EINVAL, "neither a section, a comment nor key = value");
	sep = !colon || (eq && eq < colon) ? eq : colon;
	k = s;
	kn = (size_t)(sep - s);
	v = sep + 1;
	vn = n - kn - 1;
	strip(&k, &kn);
	strip(&v, &vn);
	if (kn == 0)
		return fail(p, lineno, -EINVAL, "an assignment with an empty key");
	/* value[0] == value[-1] and a quote: both go (one quote alone: empty). */
	if (vn && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
		v++;
		vn = vn >= 2 ? vn - 2 : 0;
	}
	tl_buf_reset(&p->key);
	tl_buf_reset(&p->value);
	tl_buf_append(&p->key, k, kn);
	tl_buf_append(&p->value, v, vn);
	p->in_key = true;
	p->key_line = lineno;
	return 0;
}

int tl_ini_parse(struct tl_ini *ini, const char *name, const char *text, size_t len,
		 struct tl_buf *why)
{
	struct parse p = {.ini = ini, .why = why};
	const char *s = text, *end = text + len;
	unsigned lineno = 0;
	char **nf;
	int rc = 0;

	nf = realloc(ini->files, (ini->n_files + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	ini->files = nf;
	ini->files[ini->n_files] = strdup(name ? name : "-");
	if (!ini->files[ini->n_files])
		return -ENOMEM;
	p.file = ini->files[ini->n_files++];
	if (len > TL_INI_MAX_FILE)
		return fail(&p, 0, -E2BIG, "larger than 8 MiB: not a configuration file");
	if (memchr(text, '\0', len))
		return fail(&p, 0, -EINVAL, "holds a NUL byte: not a text file");
	if (!tl_utf8_valid(text, len))
		return fail(&p, 0, -EINVAL, "not UTF-8");
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	tl_buf_init(&p.key);
	tl_buf_init(&p.value);
	while (s < end && rc == 0) {
		const char *e = s;
		size_t n;

		while (e < end && *e != '\n' && *e != '\r')
			e++;
		n = (size_t)(e - s);
		while (n && (blank(s[n - 1])))
			n--;
		lineno++;
		rc = parse_line(&p, lineno, s, n);
		if (e < end && *e == '\r' && e + 1 < end && e[1] == '\n')
			e++;
		s = e < end ? e + 1 : e;
	}
	if (rc == 0)
		rc = flush(&p);
	ini->lines += lineno;
	free(p.section);
	tl_buf_fini(&p.key);
	tl_buf_fini(&p.value);
	return rc;
}

int tl_ini_load_file(struct tl_ini *ini, const char *path, struct tl_buf *why)
{
	struct tl_buf text;
	int rc;

	tl_buf_init(&text);
	rc = tl_buf_read_file(path, TL_INI_MAX_FILE, &text);
	if (rc < 0) {
		if (why)
			tl_buf_printf(why, "%s: %s", path, strerror(-rc));
	} else {
		rc = tl_ini_parse(ini, path, text.data ? text.data : "", text.len, why);
	}
	tl_buf_fini(&text);
	return rc;
}

struct tl_ini_entry *tl_ini_get(struct tl_ini *ini, const char *section, const char *key)
{
	struct tl_ini_entry *last = NULL;
	size_t i;

	for (i = 0; i < ini->n; i++)
		if (strcmp(ini->e[i].key, key) == 0 && section_eq(ini->e[i].section, section)) {
			ini->e[i].used = true;
			last = &ini->e[i];
		}
	return last;
}

size_t tl_ini_get_all(struct tl_ini *ini, const char *section, const char *key,
		      struct tl_ini_entry **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < ini->n; i++)
		if (strcmp(ini->e[i].key, key) == 0 && section_eq(ini->e[i].section, section)) {
			ini->e[i].used = true;
			if (n < max)
				out[n] = &ini->e[i];
			n++;
		}
	return n;
}

bool tl_ini_has_section(const struct tl_ini *ini, const char *section)
{
	size_t i;

	for (i = 0; i < ini->n; i++)
		if (section_eq(ini->e[i].section, section))
			return true;
	return false;
}
