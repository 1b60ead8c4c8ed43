/*
 * dispatcher_conf.h — the elements of collector.dispatchers.
 *
 * Every element has the common keys name, type, meters and events; the rest
 * depends on its type and is checked against the schema of that type's
 * descriptor (struct tl_dispatcher_desc in dispatcher.h, its conf).
 * The types are those of tl_dispatcher_registry (dispatchers/dispatcher.c),
 * in its order; the engine allocates the type's own struct, declared in the
 * type's folder (struct tl_dispatcher_file_conf in dispatchers/file/file.h
 * ...), and stores it in conf.
 *
 * After a successful check of the collector section
 * (tl_dispatcher_conf_bind()): every element's desc is its type's
 * descriptor; names are unique across the list and made of [A-Za-z0-9_.-]
 * (they name cursors in the buffer and appear in log prefixes); meters
 * follow ceilometer's pipeline rules; each type's own rules hold (see its
 * header).
 */
#ifndef TL_DISPATCHERS_DISPATCHER_CONF_H
#define TL_DISPATCHERS_DISPATCHER_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

/* Longest dispatcher name. */
#define TL_DISPATCHER_NAME_MAX 64

struct tl_dispatcher_desc;

/* One element of collector.dispatchers. */
struct tl_dispatcher_conf {
	char *name;
	/* Its type's descriptor (borrowed from the registry, or a test's own). */
	const struct tl_dispatcher_desc *desc;
	int type; /* the loader's index of desc in tl_dispatcher_registry; use desc */
	/*
	 * Meter filter, ceilometer pipeline syntax: "*", "name", "prefix*", "!name".
	 * Either all included or all excluded names, "*" only with exclusions.
	 */
	struct tl_conf_strlist meters;
	bool events; /* whether events go to this dispatcher */
	void *conf;  /* the type's own struct (desc->conf.size bytes), owned */
};

/* The list spec for a TL_CONF_LIST item of struct tl_dispatcher_conf. */
extern const struct tl_conf_list tl_dispatcher_conf_list;

/*
 * Sets the desc of each of the n loaded elements v from the loader's type
 * index: the collector section's check calls it. Returns 0, or -EINVAL for
 * an index outside the registry (not one the loader wrote).
 */
int tl_dispatcher_conf_bind(struct tl_dispatcher_conf *v, size_t n);

/*
 * One element loaded on its own, from YAML or JSON text (a control API
 * request's body; name in messages, e.g. "request body"), checked as an
 * element of collector.dispatchers is, and bound. Returns 0 and *out (free
 * it with tl_dispatcher_conf_free), or -EINVAL with the errors in errs
 * ("name:line: dispatchers[0].KEY: ..."), or -ENOMEM.
 */
int tl_dispatcher_conf_load(const char *name, const char *text, size_t len,
			    struct tl_dispatcher_conf **out, struct tl_conf_errors *errs);
/* Frees what tl_dispatcher_conf_load() returned. NULL is accepted. */
void tl_dispatcher_conf_free(struct tl_dispatcher_conf *conf);
/*
 * The element as YAML text (tl_conf_dump, secrets included: for comparing
 * two configurations of one dispatcher, never for display). Returns 0 or
 * -ENOMEM.
 */
int tl_dispatcher_conf_text(const struct tl_dispatcher_conf *conf, struct tl_buf *out);

/* A check for the URL keys of dispatchers: NULL, or http:// or https:// and more. */
int tl_dispatcher_check_http_url(void *p, const struct tl_conf_check *c);

#endif
