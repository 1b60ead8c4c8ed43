/*
 * pipeline.h — the sample pipelines of a loaded pipeline.yaml, run batch by
 * batch as the original's PublishContext does (docs/pipelines.md §2.5):
 * every pipeline, in file order, takes the batch's samples its source
 * selects through its sink's transformer chain and publishes what
 * survives; then every pipeline is flushed, transformer by transformer,
 * each flush's output going through the transformers after it.
 *
 * A sink named by several sources is one set of transformer instances, as
 * in the original (its state is shared, and it is flushed once per
 * pipeline in every batch).
 *
 * Publishing is a callback: the caller maps a pipeline's sink publishers
 * to its destinations (a later stage: dispatchers). The samples handed to
 * it are valid during the call.
 *
 * State: tl_pipeline_set_save() writes the state of every transformer, and
 * tl_pipeline_set_restore() reads it back into a set built from the same
 * configuration (a configuration whose sinks or transformers changed gets
 * -ESTALE: its state is not taken).
 *
 * Ownership and threads: the set owns its transformers; it borrows the
 * configuration, which must outlive it. One thread at a time.
 */
#ifndef TL_PIPELINE_PIPELINE_H
#define TL_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/sample.h"
#include "pipeline/pipeline_conf.h"

enum tl_pipeline_phase { TL_PIPELINE_PUBLISH = 0, TL_PIPELINE_FLUSH };

/* Receives one published sample of pipeline p. Non-zero stops the batch with that error. */
typedef int (*tl_pipeline_publish_fn)(void *ctx, size_t pipeline, enum tl_pipeline_phase phase,
				      const struct tl_sample *s);

struct tl_pipeline_set;

/* Creates the transformers of every sink of c. 0, -EINVAL (errs), -ENOMEM. */
int tl_pipeline_set_create(const struct tl_pipeline_conf *c, struct tl_pipeline_set **out,
			   struct tl_conf_errors *errs);
void tl_pipeline_set_destroy(struct tl_pipeline_set *set);

/*
 * Runs one batch of n samples, then the flush of every pipeline at now_us.
 * Returns 0, -ENOMEM, or the callback's error.
 */
int tl_pipeline_set_batch(struct tl_pipeline_set *set, const struct tl_sample *const *samples,
			  size_t n, int64_t now_us, tl_pipeline_publish_fn publish, void *ctx);

/*
 * Whether a sample of this meter reaches a transformer: some pipeline whose
 * sink has transformers selects it. A sample that does not is published by
 * transformer-less sinks only, unchanged: a caller whose publish ignores
 * those (the collector's stage) need not decode or pass it at all.
 */
bool tl_pipeline_set_transforms(const struct tl_pipeline_set *set, const char *counter_name);

/*
 * The state piece by piece, for a store that writes only what changed
 * (the collector's stage): for each transformer with keyed state
 * (rate_of_change, delta) its entries changed since the previous call
 * (ENTRY: key, klen <= TL_PIPELINE_KEY_MAX, val; CLEAR before them when
 * every entry went), for each other transformer its whole state at every
 * call (WHOLE: val; the caller compares with what it stored). Entries count
 * as saved once emitted: after a store fails, build the set again from what
 * is stored. fn's pointers are valid during the call. 0, fn's error, -ENOMEM.
 */
enum tl_pipeline_piece { TL_PIPELINE_ENTRY = 0, TL_PIPELINE_CLEAR, TL_PIPELINE_WHOLE };
#define TL_PIPELINE_KEY_MAX 32
typedef int (*tl_pipeline_piece_fn)(void *ctx, size_t sink, size_t t, enum tl_pipeline_piece kind,
				    const void *key, size_t klen, const void *val, size_t vlen);
int tl_pipeline_set_pieces(struct tl_pipeline_set *set, tl_pipeline_piece_fn fn, void *ctx);
/*
 * Takes back one stored ENTRY or WHOLE piece of transformer t of sink into
 * a set created fresh. 0, -EINVAL (no such transformer or piece), -EBADMSG,
 * -ENOMEM.
 */
int tl_pipeline_set_restore_piece(struct tl_pipeline_set *set, size_t sink, size_t t,
				  enum tl_pipeline_piece kind, const void *val, size_t vlen);
/*
 * What stored pieces belong to: the sinks' names and their transformers'
 * names in order, appended to b. Pieces stored under another shape are not
 * to be restored (the -ESTALE of tl_pipeline_set_restore()). 0 or -ENOMEM.
 */
int tl_pipeline_set_shape(const struct tl_pipeline_set *set, struct tl_buf *b);

/* The state of every transformer, appended to b. 0 or -ENOMEM. */
int tl_pipeline_set_save(const struct tl_pipeline_set *set, struct tl_buf *b);
/* Restores a saved state: 0, -ESTALE (another configuration), -EBADMSG, -ENOMEM. */
int tl_pipeline_set_restore(struct tl_pipeline_set *set, const void *data, size_t len);

#endif
