/*
 * stage_state.h — where the pipeline stage (stage.h) keeps its state: the
 * buffer's side state, piece by piece, so that a commit writes what the
 * batch changed and not the whole state (docs/pipelines.md "The stage").
 *
 * Keys, all under "pipeline/":
 *   shape               the sinks and transformers the pieces belong to
 *                       (tl_pipeline_set_shape); pieces under another shape
 *                       are not restored
 *   seen                the recently seen input ids: count and ring position
 *   seen/K              the ring's chunk K (TL_STAGE_SEEN_CHUNK ids)
 *   e/S/T/<key>         an entry of transformer T of sink S (rate_of_change,
 *                       delta: one per series), written when it changed
 *   w/S/T, w/S/T/N      the whole state of another transformer: a header,
 *                       then chunks of at most TL_BUFFER_STATE_VAL_MAX;
 *                       written when it differs from the stored one
 * The state of the first version (one blob, "pipeline/state" and its
 * chunks) is not read: the transformers start fresh and its keys go.
 *
 * Ownership and threads: the stage's thread alone; the store borrows the
 * buffer. Pairs handed out point into the store until the next call.
 */
#ifndef TL_COLLECTOR_STAGE_STATE_H
#define TL_COLLECTOR_STAGE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/buffer.h"
#include "pipeline/pipeline.h"

/* Input ids remembered to drop a redelivered sample. */
#define TL_STAGE_SEEN 8192
/* Ids per stored chunk of the ring (16 chunks of 4 KiB). */
#define TL_STAGE_SEEN_CHUNK 512

/*
 * The ids of the last TL_STAGE_SEEN input samples (hashes, never 0): a
 * sample the broker redelivers after a crash (committed to the buffer, not
 * yet acknowledged) is appended again, and the transformers must not see it
 * twice. A ring in arrival order and an open-addressing set over it; dirty
 * marks the ring's chunks written since the last commit.
 */
struct tl_stage_seen {
	uint64_t ring[TL_STAGE_SEEN];
	size_t n, pos; /* entries; the oldest when full */
	uint64_t slot[2 * TL_STAGE_SEEN];
	uint32_t dirty;
};

/* Adds h; false when it was there already (a duplicate). */
bool tl_stage_seen_add(struct tl_stage_seen *z, uint64_t h);

struct tl_stage_store;

/* A store over b's side state. 0 or -ENOMEM. */
int tl_stage_store_create(struct tl_buffer *b, struct tl_stage_store **out);
void tl_stage_store_destroy(struct tl_stage_store *st);

/*
 * Restores the stored state into set (created fresh from the configuration
 * the stage runs) and *seen. Returns 0 (restored, or nothing stored), or
 * -ESTALE (stored under another pipeline file) / -EPROTO (by the first
 * version) / -EBADMSG (unreadable):
 * then the caller starts with a fresh set and an empty seen, and the next
 * commit removes the stored keys; -ENOMEM or the buffer's error. *bytes
 * gets the size of what was read.
 */
int tl_stage_store_load(struct tl_stage_store *st, struct tl_pipeline_set *set,
			struct tl_stage_seen *seen, size_t *bytes);

/*
 * The pairs that store what changed since the last commit: the pieces of
 * set (tl_pipeline_set_pieces: entries emitted, whole states that differ),
 * seen's dirty chunks, removals due. Valid until the next call. 0, -ENOMEM,
 * -EMSGSIZE (a whole state beyond TL_TRANSFORM_MAX_STATE) or the buffer's
 * error. After a failed commit, load again into a fresh set.
 */
int tl_stage_store_pairs(struct tl_stage_store *st, struct tl_pipeline_set *set,
			 const struct tl_stage_seen *seen, const struct tl_buffer_kv **kv,
			 size_t *n);

/* The pairs of the last tl_stage_store_pairs() are stored. */
void tl_stage_store_committed(struct tl_stage_store *st);

#endif
