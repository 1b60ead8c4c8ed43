/*
 * ini.h — a reader of oslo.config INI files (an OpenStack service's
 * ceilometer.conf), with oslo.config's own rules (oslo_config/iniparser.py
 * and cfg.ConfigParser), for tallyctl import-ceilometer:
 *
 *  - "[section]" starts a section; the line must end with "]" (no comment
 *    after it) and the name must not be empty. Section names are compared
 *    in lower case except "DEFAULT", as oslo.config normalizes groups.
 *  - "key = value" or "key: value", split at the first "=" or ":" whichever
 *    comes first; key and value are stripped; a value that starts and ends
 *    with the same quote (' or ") loses both.
 *  - A line starting with "#" or ";" is a comment; there are no comments at
 *    the end of a line ("a = b # c" is the value "b # c").
 *  - A line starting with a space or a tab continues the previous value
 *    (joined with "\n", its leading blanks removed); a blank line, a comment
 *    or a new key ends it. A continuation with no key before it is an error.
 *  - An assignment before any section is an error. Lines end with \n, \r\n
 *    or \r; a UTF-8 byte-order mark is skipped; the text must be UTF-8 with
 *    no NUL byte.
 *  - Every assignment is kept, in order, across the files loaded: a
 *    single-valued option takes the last one (tl_ini_get), a multi-valued
 *    one (oslo MultiStrOpt: repeated "dispatcher =" lines) all of them
 *    (tl_ini_get_all), as oslo.config does with several --config-file.
 *
 * Errors are "FILE:LINE: message" in why; the text of values is never
 * quoted in them (a line may hold a password).
 *
 * Ownership: a struct tl_ini owns every string in it; tl_ini_fini releases
 * them. One thread at a time.
 */
#ifndef TL_COMMON_INI_H
#define TL_COMMON_INI_H

#include <stdbool.h>
#include <stddef.h>

struct tl_buf;

/* Caps: bytes of one file, assignments in all. */
#define TL_INI_MAX_FILE	   (8u << 20)
#define TL_INI_MAX_ENTRIES 100000u

struct tl_ini_entry {
	char *section; /* normalized: lower case unless "DEFAULT" */
	char *key;
	char *value;	  /* continuation lines joined with "\n" */
	const char *file; /* the name given to tl_ini_parse (owned by the ini) */
	unsigned line;	  /* of the key */
	bool used;	  /* set by the getters: what a caller carried over */
};

struct tl_ini {
	struct tl_ini_entry *e;
	size_t n, cap;
	char **files;
	size_t n_files;
	unsigned long lines; /* lines read in all files */
};

void tl_ini_init(struct tl_ini *ini);
void tl_ini_fini(struct tl_ini *ini);

/*
 * Parses one file's text (name is for messages) and appends its
 * assignments. Returns 0; -EINVAL with "name:line: message" in why (the
 * assignments before the error are kept); -E2BIG over a cap; -ENOMEM.
 */
int tl_ini_parse(struct tl_ini *ini, const char *name, const char *text, size_t len,
		 struct tl_buf *why);

/* Reads path (at most TL_INI_MAX_FILE bytes) and parses it. Also -errno. */
int tl_ini_load_file(struct tl_ini *ini, const char *path, struct tl_buf *why);

/*
 * The last assignment of key in section (section as written in a file or
 * normalized), or NULL. Marks every assignment of it used.
 */
struct tl_ini_entry *tl_ini_get(struct tl_ini *ini, const char *section, const char *key);

/*
 * Every assignment of key in section, in order: up to max of them in out.
 * Returns how many there are. Marks them used.
 */
size_t tl_ini_get_all(struct tl_ini *ini, const char *section, const char *key,
		      struct tl_ini_entry **out, size_t max);

/* Whether section holds any assignment (nothing is marked). */
bool tl_ini_has_section(const struct tl_ini *ini, const char *section);

#endif
