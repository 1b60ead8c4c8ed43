/*
 * record.h — the payload of a buffer record (collector/buffer.h), both
 * directions: a sample or an event becomes its normalized compact JSON
 * (tl_sample_write_json(), tl_event_write_json(): ceilometer's field names,
 * UTC timestamps with microseconds, the volume as the number it came as),
 * and that JSON becomes the same sample or event again.
 *
 * The read side is the exact inverse of the writer: it reads the fields the
 * writer writes, in the form it writes them, and nothing else. It neither
 * re-validates what the inputs already validated (sizes, signatures) nor
 * understands ceilometer's wire forms: records are not messages. A record
 * that does not have the writer's shape (a record of another kind, a bit
 * flip that the checksum missed) is refused with a reason, alone.
 *
 * Round trip: for every sample and event the inputs accept, decode(encode(x))
 * equals x field by field, with two normalizations that the writer makes
 * and ceilometer makes too: an absent message_signature reads back as "",
 * an absent resource_metadata (raw for events) as an empty object.
 *
 * Threads: a struct tl_record_batch belongs to one thread.
 */
#ifndef TL_COLLECTOR_RECORD_H
#define TL_COLLECTOR_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "collector/buffer.h"
#include "common/buf.h"
#include "common/event.h"
#include "common/json.h"
#include "common/sample.h"

/*
 * Appends the payload of a sample (kind TL_BUFFER_KIND_SAMPLE) or an event
 * (TL_BUFFER_KIND_EVENT) record to b. Returns 0, or -ENOMEM / -EINVAL (a
 * time out of range) with b's content undefined past its old length.
 */
int tl_record_encode_sample(const struct tl_sample *s, struct tl_buf *b);
int tl_record_encode_event(const struct tl_event *e, struct tl_buf *b);

/* A record that did not decode. */
struct tl_record_refusal {
	size_t index;	  /* in the records given to tl_record_decode() */
	char reason[128]; /* e.g. "counter_volume: not a number" */
};

/*
 * What a batch of records decoded to. The samples' and events' strings and
 * JSON values point into memory the struct owns (a copy of the payloads and
 * their parsed documents); their json/json_len point at the records'
 * payloads themselves. Valid until the next tl_record_decode() into it or
 * tl_record_batch_fini(). Reuse one across batches: the memory is kept.
 */
struct tl_record_batch {
	struct tl_sample *samples; /* in record order */
	size_t n_samples, cap_samples;
	struct tl_event *events; /* in record order */
	size_t n_events, cap_events;
	size_t *sample_rec, *event_rec; /* index of each item's record */
	size_t cap_sample_rec, cap_event_rec;
	struct tl_record_refusal *refused;
	size_t n_refused, cap_refused;
	/* Private. */
	struct tl_buf text;
	struct tl_json_doc doc;
};

void tl_record_batch_init(struct tl_record_batch *rb);
/* Frees everything. NULL is accepted. */
void tl_record_batch_fini(struct tl_record_batch *rb);

/*
 * Decodes recs[0..n) into rb (its previous content is released): each
 * sample and event record becomes an item, each record that does not decode
 * a refusal. The records' data must stay valid as long as the items are used
 * (json points into it). Returns 0 or -ENOMEM.
 */
int tl_record_decode(struct tl_record_batch *rb, const struct tl_buffer_rec *recs, size_t n);

/*
 * The counter_name of a sample record without decoding it: the writer puts
 * it second, after source. Copies it (NUL-terminated) into name[0..cap) and
 * returns its length, or -1 when the record does not start the writer's way
 * or the name holds an escape or is longer than cap - 1: then decode it to
 * know. For a reader that skips what it does not need (the pipeline stage).
 */
int tl_record_peek_counter_name(const struct tl_buffer_rec *rec, char *name, size_t cap);

#endif
