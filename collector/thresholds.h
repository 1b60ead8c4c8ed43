/*
 * thresholds.h — thresholds on the samples that pass through ingest (issue
 * 16): "meter M of resources matching P above V for S seconds", evaluated on
 * every matching sample in the input thread that decoded it, with a state per
 * (threshold, resource) series: insufficient data, ok, alarm.
 *
 * Definitions. name: 1 to TL_THRESHOLD_NAME_MAX bytes of printable ASCII
 * without '/' (it is a path segment and a key prefix), unique; meter: an exact
 * meter name; resource: a shell pattern (fnmatch, default "*"); project: an
 * exact project id or "" (any); op gt|ge|lt|le; value (the limit, finite);
 * for_s >= 0: seconds of sample timestamps the condition must hold before the
 * alarm fires (every sample in between holding it; one that does not resets
 * the wait); hysteresis >= 0; severity low|moderate|critical (aodh's).
 * At most TL_THRESHOLDS_MAX thresholds.
 *
 * Semantics, per series (op gt; the others alike): alarm when value > limit
 * (held for for_s); back to ok when value <= limit - hysteresis; in between an
 * alarm stays an alarm. ge: alarm value >= limit, ok value < limit - h; lt:
 * alarm value < limit, ok value >= limit + h; le: alarm value <= limit, ok
 * value > limit + h. A series without a sample since the threshold was made is
 * "insufficient data"; its first sample makes it ok or alarm. A sample older
 * than the series' last evaluated one (by timestamp) is ignored. Changes to
 * alarm (from ok or insufficient data) and from alarm to ok are reported to
 * the caller, which emits the events (collector/ingest.c).
 *
 * Index. The thresholds are indexed by meter (a hash map meter -> the
 * bucket of that meter's thresholds), so the cost of a sample is the
 * thresholds of its own meter, whatever the total. A bucket holds the series
 * its thresholds share: a hash map resource -> row id, the resource stored
 * once per row, at most TL_THRESHOLD_SERIES_MAX rows per meter (a resource
 * past them is counted in series_dropped of each threshold it matches, and
 * not watched). Each threshold keeps its states in a dense array of cells
 * indexed by row id, grown when a sample it matches needs a row past its end;
 * a cell never evaluated is no series. A row id is never reused while its
 * bucket has thresholds (the rows go with the last one): removing a threshold
 * frees its cells only, adding one starts with none.
 *
 * Cost per sample: one lookup of the meter per run of samples of one meter in
 * the message (and one lock of its bucket), then one row lookup, then per
 * threshold of the meter its match (none for resource "*" without project,
 * else the project's strcmp and fnmatch(3) on the resource) and its cell by
 * index. Memory: a row is about 100 bytes (the map's slot and key, the
 * copy); a cell 48 bytes for each row up to the threshold's last matched one
 * (a threshold on one resource of a meter with many rows pays for the rows
 * before it).
 *
 * Persistence, in the buffer's side state (collector/buffer.h):
 *   "threshold/def/<name>"              the definition, as JSON (def_write)
 *   "threshold/state/<name>/<resource>" {"state","since","value","timestamp"}
 * Definitions are written by tl_thresholds_put/delete; states by the ingest
 * commit that holds the event of the change (the same LMDB transaction), so
 * a restart neither loses an alarm nor fires it twice. tl_thresholds_load()
 * reads both at start (states of no definition are deleted).
 *
 * Staging. An ingest evaluates into its own struct tl_threshold_staging: the
 * changes of the messages it staged (event JSON, state pair, notice), applied
 * in memory at once (later samples of the same batch see them) and written
 * by its commit. tl_thresholds_undo() puts back, on a discard, the states the
 * staging changed (unless another ingest evaluated a sample of the series
 * since: then that later evaluation holds, and its own staging carries the
 * state). A discarded staging's evaluations that changed no state (a later
 * last value and timestamp, a `for` wait begun) are not put back: the
 * redelivered samples are evaluated again, and those older than the series'
 * last timestamp are then ignored.
 *
 * Threads: any thread evaluates, reads and changes, concurrently: a rwlock
 * (writers preferred) guards the set and the index, which changes are rare
 * (under it, write-locked, the definitions, buckets and cells change); each
 * bucket's mutex guards its rows and the cells and counters of its
 * thresholds: ingest threads evaluating samples of different meters do not
 * contend, and one evaluation locks a bucket once per run of its meter's
 * samples. A staging belongs to its ingest's thread.
 */
#ifndef TL_COLLECTOR_THRESHOLDS_H
#define TL_COLLECTOR_THRESHOLDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/buffer.h"
#include "collector/notices.h"
#include "common/buf.h"
#include "common/sample.h"

#define TL_THRESHOLD_NAME_MAX	  128
#define TL_THRESHOLD_FIELD_MAX	  255 /* meter, resource pattern, project */
#define TL_THRESHOLDS_MAX	  100000
#define TL_THRESHOLD_SERIES_MAX	  100000 /* series rows per meter, shared by its thresholds */
#define TL_THRESHOLD_DEF_JSON_MAX 4096	 /* a definition's JSON (request bodies too) */

enum tl_threshold_op { TL_THRESHOLD_GT, TL_THRESHOLD_GE, TL_THRESHOLD_LT, TL_THRESHOLD_LE };
enum tl_threshold_severity { TL_THRESHOLD_LOW, TL_THRESHOLD_MODERATE, TL_THRESHOLD_CRITICAL };
enum tl_threshold_state {
	TL_THRESHOLD_INSUFFICIENT, /* "insufficient data" */
	TL_THRESHOLD_OK,
	TL_THRESHOLD_ALARM
};

struct tl_threshold_def {
	char name[TL_THRESHOLD_NAME_MAX + 1];
	char meter[TL_THRESHOLD_FIELD_MAX + 1];
	char resource[TL_THRESHOLD_FIELD_MAX + 1]; /* pattern; "*" by default */
	char project[TL_THRESHOLD_FIELD_MAX + 1];  /* "" for any */
	enum tl_threshold_op op;
	double value;
	double for_s;
	double hysteresis;
	enum tl_threshold_severity severity;
};

const char *tl_threshold_op_name(enum tl_threshold_op op);	      /* "gt"... */
const char *tl_threshold_severity_name(enum tl_threshold_severity s); /* "low"... */
const char *tl_threshold_state_name(enum tl_threshold_state s);	      /* "insufficient data"... */

/*
 * Parses a definition from JSON text[0..len) (a request body, a stored
 * definition): an object with name (unless name is given: then the body's
 * must be absent or equal), meter, op, value required; resource, project,
 * for, hysteresis, severity optional; any other key is an error. Returns 0,
 * or -EINVAL with why (a message naming the key) in why[0..size).
 */
int tl_threshold_def_parse(const char *text, size_t len, const char *name,
			   struct tl_threshold_def *out, char *why, size_t size);
/* Appends the definition as a JSON object (the keys of def_parse). */
void tl_threshold_def_write(const struct tl_threshold_def *d, struct tl_buf *b);

struct tl_thresholds;

/* An empty set. Returns 0 and *out, or -ENOMEM. */
int tl_thresholds_create(struct tl_thresholds **out);
/* Frees it; nobody may use it any more. NULL is accepted. */
void tl_thresholds_destroy(struct tl_thresholds *t);

/*
 * Reads the definitions and states of buffer b's side state into t (at
 * start, before the inputs). A definition that does not parse is logged and
 * skipped; states of no definition are deleted. Returns 0 or a negative
 * errno of the buffer.
 */
int tl_thresholds_load(struct tl_thresholds *t, struct tl_buffer *b);

/*
 * Adds (create: -EEXIST when the name is taken) or replaces (!create:
 * -ENOENT when absent) a definition, after writing it to b's side state (b
 * may be NULL: memory only, for tests). A replacement keeps the series'
 * states when meter, resource and project are unchanged (the next sample
 * re-evaluates them against the new limit), else forgets them (their stored
 * states too). Returns 0, -EEXIST, -ENOENT, -ENOSPC (TL_THRESHOLDS_MAX, or
 * the buffer is full) or the buffer's error.
 */
int tl_thresholds_put(struct tl_thresholds *t, struct tl_buffer *b,
		      const struct tl_threshold_def *d, bool create);
/* Removes one, its definition and stored states. Returns 0, -ENOENT or the buffer's error. */
int tl_thresholds_delete(struct tl_thresholds *t, struct tl_buffer *b, const char *name);

/* How many thresholds there are. */
size_t tl_thresholds_count(struct tl_thresholds *t);

/* One series of a threshold, copied out. */
struct tl_threshold_series {
	const char *resource_id; /* valid during the callback */
	enum tl_threshold_state state;
	int64_t since_us;     /* sample timestamp of the last change (0: none) */
	double value;	      /* the last value evaluated */
	int64_t timestamp_us; /* its timestamp */
	int64_t pending_us;   /* for: when the condition started to hold (0: not holding) */
};

/* A threshold as read: its definition and counts. */
struct tl_threshold_info {
	struct tl_threshold_def def;
	size_t series;		 /* series with a state */
	uint64_t series_dropped; /* samples of a new resource refused at TL_THRESHOLD_SERIES_MAX */
	uint64_t alarms, oks;	 /* changes evaluated since the start */
};

/*
 * Calls fn for each threshold in name order with its info, and, when
 * series_fn is not NULL, series_fn for each of its first max_series series
 * (in no order) before the next threshold; neither may call back into t (the
 * set is read-locked). name (may be NULL: all) picks one. A non-zero return
 * stops and is returned. Returns 0, -ENOENT (name given, absent), or fn's.
 */
int tl_thresholds_each(struct tl_thresholds *t, const char *name,
		       int (*fn)(const struct tl_threshold_info *info, void *ctx),
		       int (*series_fn)(const struct tl_threshold_series *s, void *ctx),
		       size_t max_series, void *ctx);

/* The state of one series: 0 and *out (resource_id points to the caller's resource), or -ENOENT. */
int tl_thresholds_series(struct tl_thresholds *t, const char *name, const char *resource,
			 struct tl_threshold_series *out);

/* True when the resource and project match the threshold's patterns. */
bool tl_threshold_matches(const struct tl_threshold_def *d, const char *resource,
			  const char *project);

/* ---- evaluation, for ingest ---- */

/* A change staged by an evaluation (offsets into the staging's text). */
struct tl_threshold_change {
	size_t event_off, event_len; /* the event's record payload (tl_record_encode_event) */
	size_t key_off, key_len;     /* "threshold/state/<name>/<resource>"; key_len 0: too long */
	size_t val_off, val_len;     /* the state's JSON */
	size_t detail_off, detail_len; /* the notice's detail JSON */
	size_t subject_off;	       /* "<name>/<resource>", NUL-terminated */
	size_t text_off;	       /* the notice's text, NUL-terminated */
	bool alarm;		       /* to alarm (else to ok) */
	enum tl_threshold_severity severity;
	/* For an undo: the series before the change. */
	size_t name_off, resource_off; /* NUL-terminated */
	enum tl_threshold_state before_state;
	int64_t before_since, before_ts, before_pending;
	double before_value;
};

struct tl_threshold_staging {
	struct tl_buf text;
	struct tl_threshold_change *v;
	size_t n, cap;
	struct tl_buffer_kv *kv; /* built by tl_threshold_staging_kv() */
	size_t cap_kv;
};

void tl_threshold_staging_init(struct tl_threshold_staging *s);
void tl_threshold_staging_fini(struct tl_threshold_staging *s);
/* Forgets the staged changes (after their commit, or after tl_thresholds_undo()). */
void tl_threshold_staging_reset(struct tl_threshold_staging *s);

/*
 * Evaluates samples v[0..n) against the thresholds of their meters and
 * stages each change of state in s (applied in memory at once). Returns the
 * number of changes staged, or -ENOMEM (what was staged before stays).
 */
int tl_thresholds_eval(struct tl_thresholds *t, const struct tl_sample *v, size_t n,
		       struct tl_threshold_staging *s);

/*
 * The state pairs of the staged changes, for tl_buffer_append_state().
 * Returns how many (*out valid until the next call or reset), or -ENOMEM.
 */
int tl_threshold_staging_kv(struct tl_threshold_staging *s, const struct tl_buffer_kv **out);

/*
 * Posts the notice of each staged change (kind threshold.alarm or
 * threshold.ok, the detail JSON with the event's traits): after its commit.
 */
void tl_threshold_staging_post(const struct tl_threshold_staging *s, struct tl_notices *notices);

/* Puts back the series the staged changes changed (a discarded staging); see above. */
void tl_thresholds_undo(struct tl_thresholds *t, const struct tl_threshold_staging *s);

#endif
