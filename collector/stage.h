/*
 * stage.h — ceilometer's pipelines (pipeline/pipeline.h) as a stage over the
 * write-ahead buffer (docs/pipelines.md "The stage"): config
 * collector.pipeline.
 *
 * The stage reads the sample records with its own cursor, "pipeline" (it
 * skips events and the records it derived itself, TL_BUFFER_FLAG_DERIVED),
 * runs each batch through the pipelines, and commits in ONE transaction
 * (tl_buffer_stage_commit()) the derived samples it publishes, what the
 * batch changed of the transformers' state (side state under "pipeline/",
 * stage_state.h) and its cursor moved past the batch. A crash at any point therefore leaves either
 * the batch unconsumed with the state before it, or both done: a restart
 * resumes from the stored cursor with the stored state and emits no derived
 * sample twice and none is lost. Each derived record carries the index of
 * the sink that made it in its flags (TL_ROUTE_SINK_FLAGS), by which the
 * dispatchers take what their sinks publish (collector/route.h).
 *
 * An input sample whose message_id is among the last TL_STAGE_SEEN the
 * stage took (a redelivery after a crash appends it again) is dropped.
 *
 * A periodic flush (every TL_STAGE_FLUSH_MS, even without input) releases
 * the aggregator's retention_time windows, committed the same way. At stop
 * nothing is flushed, as in the original (its state is kept instead).
 *
 * Ownership and threads: tl_stage_create() and tl_stage_stop() on the
 * collector's start/stop thread; the stage has one thread of its own that
 * alone uses its reader, pipeline set and buffers. It borrows the buffer,
 * which must outlive it.
 */
#ifndef TL_COLLECTOR_STAGE_H
#define TL_COLLECTOR_STAGE_H

#include <stdint.h>

#include "collector/buffer.h"
#include "collector/ingest.h"
#include "collector/route.h"
#include "collector/stage_state.h" /* TL_STAGE_SEEN */
#include "common/conf_yaml.h"
#include "dispatchers/dispatcher_conf.h"
#include "pipeline/pipeline_conf.h"

/* The stage's cursor name. */
#define TL_STAGE_CURSOR "pipeline"
/* Period of the flush without input (aggregator retention_time), ms. */
#define TL_STAGE_FLUSH_MS 1000
/* Records read per batch at most (fewer when a commit would be too large). */
#define TL_STAGE_BATCH 16384
/*
 * Under a steady input, records gather for at most this long after a
 * commit before a batch short of TL_STAGE_BATCH is run (each commit writes
 * the whole state), ms. Bounds the delay of a derived sample under load.
 */
#define TL_STAGE_COMMIT_MS 500

struct tl_stage;

/*
 * shared (borrowed, may be NULL) is what the inputs' ingests feed: the
 * derived samples go to its latest values and meters after their commit,
 * and its thresholds are evaluated on them, their alarm/ok events and
 * states committed with the derived samples in the stage's transaction.
 *
 * Loads the pipeline file at path (errors logged as file:line), builds the
 * pipelines, opens the cursor (call it with the dispatchers' readers,
 * before the inputs start) and restores the stored state (a state of
 * another pipeline file is logged and dropped: a fresh start). Returns 0
 * and *out, -EINVAL (a bad file), -EEXIST (a dispatcher is named
 * "pipeline"; more than TL_ROUTE_MAX_SINKS sinks is -EINVAL), -ENOMEM or
 * the buffer's error. Does not start the thread.
 */
int tl_stage_create(struct tl_buffer *b, const char *path, const struct tl_ingest_shared *shared,
		    struct tl_stage **out);

/*
 * Loads and builds the pipeline file at path as tl_stage_create() does and
 * checks its publishers against the dispatchers d[0..n) (route.h), adding
 * its file:line errors to errs (the configuration check: tallyd
 * --check-config and start-up refuse a bad file before anything starts).
 * Returns 0 or -EINVAL.
 */
int tl_stage_check(const char *path, const struct tl_dispatcher_conf *d, size_t n,
		   struct tl_conf_errors *errs);

/* Starts the stage's thread. Returns 0 or -EAGAIN. */
int tl_stage_start(struct tl_stage *s);

/*
 * Stops the thread after its batch in flight (committed or not: either way
 * consistent), closes the reader and frees everything. Call before
 * tl_buffer_close(); tl_buffer_wakeup() wakes it if it waits. NULL is
 * accepted.
 */
void tl_stage_stop(struct tl_stage *s);

#endif
