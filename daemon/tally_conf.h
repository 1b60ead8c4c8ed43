/*
 * tally_conf.h — the whole configuration file of tallyd (docs/architecture.md
 * "Configuration outline"): the top-level keys, and the sections of the
 * components mounted under their names.
 *
 * After a successful load: telemetry_secret holds the signing secret (read from
 * telemetry_secret_file when that is set, trailing newlines removed; an empty
 * secret turns signature checks off); at least one of collector.enabled and
 * api.enabled is true. Never log telemetry_secret.
 */
#ifndef TL_DAEMON_TALLY_CONF_H
#define TL_DAEMON_TALLY_CONF_H

#include <stddef.h>

#include "api/api_conf.h"
#include "collector/collector_conf.h"
#include "common/conf.h"
#include "control/control_conf.h"
#include "storage/storage_conf.h"

/* The largest telemetry_secret_file. */
#define TL_TALLY_SECRET_FILE_MAX 65536

/* log: where tallyd's own messages go. */
struct tl_log_conf {
	int level;  /* enum tl_log_level */
	int target; /* enum tl_log_target */
};

struct tl_tally_conf {
	char *telemetry_secret;	     /* secret */
	char *telemetry_secret_file; /* NULL unless set */
	struct tl_collector_conf collector;
	struct tl_storage_conf storage;
	struct tl_api_conf api;
	struct tl_control_conf control;
	struct tl_log_conf log;
};

/* The top-level schema. */
extern const struct tl_conf_item tl_tally_conf_items[];

/*
 * Checks a loaded document and fills *out (which need not be initialized):
 * the schema, then the rules that span sections, then reads
 * telemetry_secret_file. Errors go to errs as "file:line: message". Returns 0,
 * -EINVAL or -ENOMEM; on failure *out is released and zeroed. On success free
 * it with tl_tally_conf_fini().
 */
int tl_tally_conf_apply(const struct tl_conf_doc *doc, struct tl_tally_conf *out,
			struct tl_conf_errors *errs);
/* Loads path and applies it. Returns as tl_conf_load_file() or tl_tally_conf_apply(). */
int tl_tally_conf_load_file(const char *path, struct tl_tally_conf *out,
			    struct tl_conf_errors *errs);
/* Loads len bytes of YAML text (name in messages) and applies it. */
int tl_tally_conf_load_string(const char *name, const char *text, size_t len,
			      struct tl_tally_conf *out, struct tl_conf_errors *errs);
/* Frees everything in c and zeroes it. NULL is accepted. */
void tl_tally_conf_fini(struct tl_tally_conf *c);

#endif
