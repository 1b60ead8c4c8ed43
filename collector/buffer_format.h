/*
 * buffer_format.h — the buffer's record and its limits: what the buffer
 * (buffer.h), its dead-letter store (deadletter.h) and the LMDB helpers they
 * share all speak, so that none of them includes another's header for it.
 * The store layout and the rules are in buffer.h.
 */
#ifndef TL_COLLECTOR_BUFFER_FORMAT_H
#define TL_COLLECTOR_BUFFER_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Store format written to meta "format"; others are refused. */
#define TL_BUFFER_FORMAT 1
/* Record and dead-letter header format versions. */
#define TL_BUFFER_REC_VERSION 1
#define TL_BUFFER_REC_HEADER  20
/* Largest payload of one record, bytes. */
#define TL_BUFFER_REC_MAX (256u << 20)
/* Longest cursor (dispatcher) name and dead-letter source, bytes. */
#define TL_BUFFER_NAME_MAX 128
/* Smallest max_size accepted. */
#define TL_BUFFER_MIN_SIZE (256u << 10)

/* What a record holds. */
enum tl_buffer_kind {
	TL_BUFFER_KIND_SAMPLE = 1,
	TL_BUFFER_KIND_EVENT = 2,
	TL_BUFFER_KIND_RAW = 3, /* a body that could not be decoded (dead letters) */
};

/*
 * Bits of a record's flags that the collector assigns (the buffer stores
 * flags as they are). DERIVED: a sample the pipeline stage (collector/stage.h)
 * made; the stage skips these when it reads, so its output never feeds it.
 */
#define TL_BUFFER_FLAG_DERIVED 0x0001u

/*
 * One record. For tl_buffer_append() the caller fills kind, flags, data and
 * len (seq and time_us are ignored). Records returned by the buffer point
 * into LMDB's map (no copy); the lifetime is stated where they are returned.
 */
struct tl_buffer_rec {
	uint64_t seq;	  /* sequence number */
	int64_t time_us;  /* when it was appended (µs time) */
	uint8_t kind;	  /* enum tl_buffer_kind */
	uint16_t flags;	  /* the caller's bits, stored and returned as they are */
	const void *data; /* payload; NULL only when len is 0 */
	size_t len;	  /* payload bytes, at most TL_BUFFER_REC_MAX */
};

/* What tl_buffer_read() returns; owned by the reader. */
struct tl_buffer_batch {
	const struct tl_buffer_rec *recs; /* n records in sequence order */
	size_t n;
	size_t bytes;	   /* sum of the payload lengths */
	uint64_t last_seq; /* last sequence examined (corrupted ones included): advance to it */
	size_t skipped;	   /* corrupted records met and dead-lettered by this read */
};

/* The buffer and a dispatcher's reader of it (buffer.h). */
struct tl_buffer;
struct tl_buffer_reader;

/* "sample", "event", "raw", or "unknown": a kind as the tools and the control API name it. */
static inline const char *tl_buffer_kind_name(uint8_t kind)
{
	switch (kind) {
	case TL_BUFFER_KIND_SAMPLE:
		return "sample";
	case TL_BUFFER_KIND_EVENT:
		return "event";
	case TL_BUFFER_KIND_RAW:
		return "raw";
	}
	return "unknown";
}

#endif
