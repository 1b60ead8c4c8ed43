/*
 * transform.h — ceilometer's transformers as state machines
 * (docs/pipelines.md): rate_of_change, unit_conversion, delta
 * (conversions.c), aggregator (aggregator.c), accumulator and arithmetic
 * (accumulator.c, arithmetic.c).
 *
 * A transformer is created from its `parameters` (the YAML tree of
 * pipeline.yaml, errors as the original's, with file:line), then fed:
 * handle() takes one sample and appends 0 or 1 derived samples to an output
 * list; flush() appends what a flush releases (the aggregator's windows,
 * the accumulator's held samples, arithmetic results). Its whole state can
 * be saved to bytes and restored into a fresh transformer built from the
 * same parameters, so that a later stage can keep it durable beside the
 * buffer's cursor; a restored transformer behaves exactly as the saved one.
 *
 * Time: a transformer never reads the clock; flush() is given "now" (µs),
 * which only the aggregator's retention_time uses.
 *
 * Samples: inputs are borrowed struct tl_sample views (common/sample.h),
 * valid for the call. Outputs are owned copies (struct tl_psample: one
 * allocation each) that the output list frees. A derived sample gets a
 * deterministic message_id made from its inputs (tl_psample_derive_id) and
 * source "openstack" (the original's sample_source); a sample passed
 * through keeps its id and source, as in the original.
 *
 * Threads: none. A transformer belongs to one thread at a time; different
 * transformers are independent.
 */
#ifndef TL_PIPELINE_TRANSFORM_H
#define TL_PIPELINE_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/conf_yaml.h"
#include "common/json.h"
#include "common/sample.h"

/* Caps on what a transformer keeps (beyond them the oldest go, with a warning). */
#define TL_TRANSFORM_MAX_KEYS	1000000 /* rate_of_change/delta series, aggregator groups */
#define TL_TRANSFORM_MAX_HELD	100000	/* samples an accumulator holds */
#define TL_TRANSFORM_MAX_STATE	(512u * 1024 * 1024) /* bytes of a saved state */
#define TL_PSAMPLE_MAX_METADATA (1024 * 1024)	     /* bytes of a copied resource_metadata */

/* ---------------------------------------------------------- owned samples */

/* A sample that owns its strings and metadata (one allocation; free()). */
struct tl_psample {
	struct tl_sample s;
	size_t size; /* bytes of the allocation */
};

/* What a derived sample changes from the sample it is made of (NULL/unset: keep). */
struct tl_psample_edit {
	const char *name, *unit;
	const char *user_id, *project_id; /* used when set_user/set_project */
	bool set_user, set_project;
	bool set_type;
	enum tl_counter_type type;
	bool set_volume;
	bool volume_is_int;
	int64_t volume_int;
	double volume;
	bool set_timestamp;
	int64_t timestamp;
	bool set_metadata; /* metadata replaces the sample's (NULL: null) */
	const struct tl_json *metadata;
	bool derived; /* a new sample: message_id from tl_psample_derive_id, source "openstack" */
	const char *message_id; /* with derived: the id to use (NULL: keep the input's) */
};

/*
 * Copies s with edit applied into one allocation. Returns 0 and *out, -E2BIG
 * (metadata larger than TL_PSAMPLE_MAX_METADATA) or -ENOMEM.
 */
int tl_psample_make(const struct tl_sample *s, const struct tl_psample_edit *edit,
		    struct tl_psample **out);
/*
 * A deterministic id for a sample derived from inputs: a UUID-shaped hex
 * text of a 128-bit hash of tag and each input's message_id, written into
 * buf (at least 37 bytes).
 */
void tl_psample_derive_id(const char *tag, const struct tl_sample *const *inputs, size_t n,
			  char *buf);

/* A list of owned samples. Zero-fill before use. */
struct tl_pl_out {
	struct tl_psample **v;
	size_t n, cap;
};
/* Appends p (taking it; freed even on failure). Returns 0 or -ENOMEM. */
int tl_pl_out_push(struct tl_pl_out *o, struct tl_psample *p);
/* Frees the samples, keeps the array. */
void tl_pl_out_clear(struct tl_pl_out *o);
void tl_pl_out_fini(struct tl_pl_out *o);

/* ------------------------------------------------------------- interface */

/* A piece of state: one entry (key, value), or every entry gone (no key, no value). */
enum tl_state_piece { TL_STATE_ENTRY = 0, TL_STATE_CLEAR };
#define TL_STATE_KEY_MAX 32
/* Receives a piece; nonzero stops the caller with that error. */
typedef int (*tl_state_emit_fn)(void *ctx, enum tl_state_piece piece, const void *key, size_t klen,
				const void *val, size_t vlen);

struct tl_transformer;

struct tl_transformer_ops {
	const char *name; /* as in pipeline.yaml */
	/*
	 * Builds a transformer from params (a map node, or NULL for null/none).
	 * Refusals go to errs with file:line; returns 0, -EINVAL or -ENOMEM.
	 */
	int (*create)(const struct tl_conf_node *params, struct tl_transformer **out,
		      struct tl_conf_errors *errs);
	/* 0 (0 or 1 sample appended), or -ENOMEM. A drop is logged at warning. */
	int (*handle)(struct tl_transformer *t, const struct tl_sample *in, struct tl_pl_out *out);
	/* Releases what a flush releases at now_us. NULL: nothing to flush. */
	int (*flush)(struct tl_transformer *t, int64_t now_us, struct tl_pl_out *out);
	/* Appends the state to b. */
	int (*save)(const struct tl_transformer *t, struct tl_buf *b);
	/* Replaces the state with a saved one: 0, -EBADMSG (not a state of this kind), -ENOMEM. */
	int (*restore)(struct tl_transformer *t, const void *data, size_t len);
	/*
	 * Keyed state piece by piece, for a store that writes only what
	 * changed (optional: NULL for a transformer saved whole). changes()
	 * emits each entry changed since its previous call (TL_STATE_ENTRY with
	 * a key of its own making, at most TL_STATE_KEY_MAX bytes), preceded by
	 * TL_STATE_CLEAR when every entry went since then, and forgets they
	 * changed. restore_entry() adds back one entry's value (to a
	 * transformer created fresh, whose entries all count as saved);
	 * 0, -EBADMSG, -ENOMEM.
	 */
	int (*changes)(struct tl_transformer *t, tl_state_emit_fn emit, void *ctx);
	int (*restore_entry)(struct tl_transformer *t, const void *val, size_t vlen);
	void (*destroy)(struct tl_transformer *t);
};

/* Each implementation embeds this first. */
struct tl_transformer {
	const struct tl_transformer_ops *ops;
	char tag[64]; /* what derived ids are made of, set by the owner (sink and position) */
};

/* The registry: the ops of name, or NULL. */
const struct tl_transformer_ops *tl_transformer_find(const char *name);

/* Creates a transformer by name (errs: "No transformer named X loaded" when unknown). */
int tl_transformer_create(const char *name, const struct tl_conf_node *params,
			  const struct tl_conf_node *at, struct tl_transformer **out,
			  struct tl_conf_errors *errs);
void tl_transformer_destroy(struct tl_transformer *t);

/* ------------------------------------------------- state encoding helpers */

/*
 * The state format shared by the transformers: a kind byte and a version
 * byte, then fields written with these (integers little-endian, strings and
 * blobs length-prefixed). The reader checks every length against what is
 * left and sets a sticky error.
 */
void tl_state_put_u8(struct tl_buf *b, uint8_t v);
void tl_state_put_u64(struct tl_buf *b, uint64_t v);
void tl_state_put_f64(struct tl_buf *b, double v);
void tl_state_put_str(struct tl_buf *b, const char *s); /* NULL is kept as NULL */
/* A sample as its meter-message JSON (tl_sample_write_json). */
void tl_state_put_sample(struct tl_buf *b, const struct tl_sample *s);

struct tl_state_reader {
	const unsigned char *p;
	size_t left;
	bool bad;
};
uint8_t tl_state_get_u8(struct tl_state_reader *r);
uint64_t tl_state_get_u64(struct tl_state_reader *r);
double tl_state_get_f64(struct tl_state_reader *r);
/* A malloc'd copy (NULL for a saved NULL, or on error: check r->bad). */
char *tl_state_get_str(struct tl_state_reader *r);
/* A sample written by tl_state_put_sample, as an owned copy; NULL on error (r->bad set). */
struct tl_psample *tl_state_get_sample(struct tl_state_reader *r);

#endif
