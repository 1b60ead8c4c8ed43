/*
 * record.c — a record's payload, written and read back. The contract is in
 * record.h; the writer itself is tl_sample_write_json() and
 * tl_event_write_json(), which dispatchers use for their own JSON too.
 */
#include "config.h"

#include "collector/record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"

int tl_record_encode_sample(const struct tl_sample *s, struct tl_buf *b)
{
	return tl_sample_write_json(s, b);
}

int tl_record_encode_event(const struct tl_event *e, struct tl_buf *b)
{
	return tl_event_write_json(e, b);
}

void tl_record_batch_init(struct tl_record_batch *rb)
{
	memset(rb, 0, sizeof(*rb));
	tl_buf_init(&rb->text);
	tl_json_doc_init(&rb->doc);
}

/* Releases the items (events own their traits), keeps the memory. */
static void batch_reset(struct tl_record_batch *rb)
{
	size_t i;

	for (i = 0; i < rb->n_events; i++)
		tl_event_fini(&rb->events[i]);
	rb->n_samples = rb->n_events = rb->n_refused = 0;
	tl_buf_reset(&rb->text);
	tl_json_doc_reset(&rb->doc);
}

void tl_record_batch_fini(struct tl_record_batch *rb)
{
	if (!rb)
		return;
	batch_reset(rb);
	free(rb->samples);
	free(rb->events);
	free(rb->sample_rec);
	free(rb->event_rec);
	free(rb->refused);
	tl_buf_fini(&rb->text);
	tl_json_doc_fini(&rb->doc);
	memset(rb, 0, sizeof(*rb));
}

/*
 * Why a record is refused. Sticky, as tl_buf's error: the first reason is
 * kept and the reads after it change nothing that counts, so a reader reads
 * every field and looks at rc once.
 */
struct why {
	char text[sizeof(((struct tl_record_refusal *)0)->reason)];
	int rc; /* 0, or -EBADMSG once refused */
};

/* Records the reason unless one is there already; returns -EBADMSG. */
static int refuse(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct why *w, const char *fmt, ...)
{
	va_list ap;

	if (w->rc == 0) {
		va_start(ap, fmt);
		vsnprintf(w->text, sizeof(w->text), fmt, ap);
		va_end(ap);
		w->rc = -EBADMSG;
	}
	return -EBADMSG;
}

#define REFUSE(...) refuse(w, __VA_ARGS__)

/* The members the writers write; F_OTHER for any other key. */
enum field {
	F_OTHER = 0,
	F_SOURCE,
	F_COUNTER_NAME,
	F_COUNTER_TYPE,
	F_COUNTER_UNIT,
	F_COUNTER_VOLUME,
	F_USER_ID,
	F_PROJECT_ID,
	F_RESOURCE_ID,
	F_TIMESTAMP,
	F_RESOURCE_METADATA,
	F_MESSAGE_ID,
	F_MESSAGE_SIGNATURE,
	F_MONOTONIC_TIME,
	F_EVENT_TYPE,
	F_GENERATED,
	F_TRAITS,
	F_RAW,
	F_COUNT
};

static bool key_is(const struct tl_json_member *m, const char *lit, size_t len)
{
	return m->klen == len && memcmp(m->key, lit, len) == 0;
}

#define KEY(m, lit) key_is((m), (lit), sizeof(lit) - 1)

/*
 * Which field a member is. Called for every member of every record that a
 * dispatcher reads, so the length and one letter pick the candidate and a
 * single comparison confirms it.
 */
static enum field field_of(const struct tl_json_member *m)
{
	switch (m->klen) {
	case 3:
		return KEY(m, "raw") ? F_RAW : F_OTHER;
	case 6:
		return KEY(m, "source") ? F_SOURCE : KEY(m, "traits") ? F_TRAITS : F_OTHER;
	case 7:
		return KEY(m, "user_id") ? F_USER_ID : F_OTHER;
	case 9:
		if (m->key[0] == 't')
			return KEY(m, "timestamp") ? F_TIMESTAMP : F_OTHER;
		return KEY(m, "generated") ? F_GENERATED : F_OTHER;
	case 10:
		if (m->key[0] == 'p')
			return KEY(m, "project_id") ? F_PROJECT_ID : F_OTHER;
		if (m->key[0] == 'm')
			return KEY(m, "message_id") ? F_MESSAGE_ID : F_OTHER;
		return KEY(m, "event_type") ? F_EVENT_TYPE : F_OTHER;
	case 11:
		return KEY(m, "resource_id") ? F_RESOURCE_ID : F_OTHER;
	case 12:
		if (m->key[8] == 'n')
			return KEY(m, "counter_name") ? F_COUNTER_NAME : F_OTHER;
		if (m->key[8] == 't')
			return KEY(m, "counter_type") ? F_COUNTER_TYPE : F_OTHER;
		return KEY(m, "counter_unit") ? F_COUNTER_UNIT : F_OTHER;
	case 14:
		if (m->key[0] == 'c')
			return KEY(m, "counter_volume") ? F_COUNTER_VOLUME : F_OTHER;
		return KEY(m, "monotonic_time") ? F_MONOTONIC_TIME : F_OTHER;
	case 17:
		if (m->key[0] == 'r')
			return KEY(m, "resource_metadata") ? F_RESOURCE_METADATA : F_OTHER;
		return KEY(m, "message_signature") ? F_MESSAGE_SIGNATURE : F_OTHER;
	}
	return F_OTHER;
}

/*
 * Indexes the members of a record's object by field, in one pass; the last
 * of repeated keys wins, as with tl_json_get(). Absent fields stay NULL.
 */
static int index_fields(const struct tl_json *obj, const char *what, const struct tl_json **at,
			struct why *w)
{
	size_t i;

	if (obj->type != TL_JSON_OBJECT)
		return REFUSE("%s is %s, not an object", what, tl_json_type_name(obj));
	memset(at, 0, F_COUNT * sizeof(*at));
	for (i = 0; i < obj->len; i++)
		at[field_of(&obj->u.members[i])] = &obj->u.members[i].val;
	return 0;
}

/* A string field; absent or null gives NULL, which only a required one refuses. */
static void read_string(const struct tl_json *v, const char *key, bool required, const char **out,
			struct why *w)
{
	*out = NULL;
	if (!v || v->type == TL_JSON_NULL) {
		if (required)
			REFUSE("%s: missing", key);
	} else if (v->type != TL_JSON_STRING) {
		REFUSE("%s: not a string", key);
	} else {
		*out = v->u.s;
	}
}

static void read_time(const struct tl_json *v, const char *key, int64_t *out, struct why *w)
{
	if (!v || v->type != TL_JSON_STRING || tl_time_parse(v->u.s, v->len, out) < 0)
		REFUSE("%s: not a time", key);
}

/* An object field (the writers write {} for an absent one); absent or null gives NULL. */
static void read_object(const struct tl_json *v, const char *key, const struct tl_json **out,
			struct why *w)
{
	*out = NULL;
	if (v && v->type == TL_JSON_OBJECT)
		*out = v;
	else if (v && v->type != TL_JSON_NULL)
		REFUSE("%s: not an object", key);
}

/* A number field that may be absent or null: *has says which. */
static void read_opt_number(const struct tl_json *v, const char *key, bool *has, double *out,
			    struct why *w)
{
	*has = v && tl_json_is_number(v);
	*out = *has ? tl_json_number(v) : 0;
	if (v && !*has && v->type != TL_JSON_NULL)
		REFUSE("%s: not a number", key);
}

/* The inverse of tl_sample_write_json(). */
static int read_sample(const struct tl_json *obj, struct tl_sample *s, struct why *w)
{
	const struct tl_json *at[F_COUNT], *vol;
	const char *ctype;

	memset(s, 0, sizeof(*s));
	if (index_fields(obj, "a sample record", at, w) < 0)
		return w->rc;
	read_string(at[F_SOURCE], "source", false, &s->source, w);
	read_string(at[F_COUNTER_NAME], "counter_name", true, &s->counter_name, w);
	read_string(at[F_COUNTER_TYPE], "counter_type", true, &ctype, w);
	if (ctype && tl_counter_type_parse(ctype, &s->counter_type) < 0)
		REFUSE("counter_type: not gauge, delta or cumulative");
	read_string(at[F_COUNTER_UNIT], "counter_unit", true, &s->counter_unit, w);
	vol = at[F_COUNTER_VOLUME];
	if (!vol || !tl_json_is_number(vol)) {
		REFUSE("counter_volume: not a number");
	} else {
		s->volume_is_int = vol->type == TL_JSON_INT;
		s->volume_int = s->volume_is_int ? vol->u.i : 0;
		s->volume = tl_json_number(vol);
	}
	read_string(at[F_USER_ID], "user_id", false, &s->user_id, w);
	read_string(at[F_PROJECT_ID], "project_id", false, &s->project_id, w);
	read_string(at[F_RESOURCE_ID], "resource_id", true, &s->resource_id, w);
	read_time(at[F_TIMESTAMP], "timestamp", &s->timestamp, w);
	read_object(at[F_RESOURCE_METADATA], "resource_metadata", &s->resource_metadata, w);
	read_string(at[F_MESSAGE_ID], "message_id", true, &s->message_id, w);
	read_string(at[F_MESSAGE_SIGNATURE], "message_signature", false, &s->message_signature, w);
	read_opt_number(at[F_MONOTONIC_TIME], "monotonic_time", &s->has_monotonic_time,
			&s->monotonic_time, w);
	if (!s->message_signature)
		s->message_signature = "";
	s->obj = obj;
	return w->rc;
}

/* One [name, dtype, value] as write_trait() writes it. */
static int read_trait(const struct tl_json *tr, struct tl_trait *t, struct why *w)
{
	const struct tl_json *name, *dtype, *v;

	if (tr->type != TL_JSON_ARRAY || tr->len != 3)
		return REFUSE("a trait is not [name, dtype, value]");
	name = &tr->u.items[0];
	dtype = &tr->u.items[1];
	v = &tr->u.items[2];
	if (name->type != TL_JSON_STRING || dtype->type != TL_JSON_INT ||
	    dtype->u.i < TL_TRAIT_NONE || dtype->u.i > TL_TRAIT_DATETIME)
		return REFUSE("a trait without a name or a dtype from 0 to 4");
	t->name = name->u.s;
	t->type = (enum tl_trait_type)dtype->u.i;
	switch (t->type) {
	case TL_TRAIT_INT:
		if (v->type != TL_JSON_INT)
			return REFUSE("trait %.64s: not an integer", t->name);
		t->i = v->u.i;
		return 0;
	case TL_TRAIT_FLOAT:
		if (!tl_json_is_number(v))
			return REFUSE("trait %.64s: not a number", t->name);
		t->f = tl_json_number(v);
		return 0;
	case TL_TRAIT_DATETIME:
		read_time(v, t->name, &t->dt, w);
		return w->rc;
	case TL_TRAIT_NONE:
	case TL_TRAIT_TEXT:
		if (v->type != TL_JSON_STRING)
			return REFUSE("trait %.64s: not a string", t->name);
		t->text = v->u.s;
		t->text_len = v->len;
		return 0;
	}
	return REFUSE("trait %.64s: unknown dtype", t->name);
}

/* The inverse of tl_event_write_json(); e owns its traits even on failure. */
static int read_event(const struct tl_json *obj, struct tl_event *e, struct why *w)
{
	const struct tl_json *at[F_COUNT], *traits;
	size_t i;

	memset(e, 0, sizeof(*e));
	if (index_fields(obj, "an event record", at, w) < 0)
		return w->rc;
	read_string(at[F_MESSAGE_ID], "message_id", true, &e->message_id, w);
	read_string(at[F_EVENT_TYPE], "event_type", true, &e->event_type, w);
	read_time(at[F_GENERATED], "generated", &e->generated, w);
	read_object(at[F_RAW], "raw", &e->raw, w);
	read_string(at[F_MESSAGE_SIGNATURE], "message_signature", false, &e->message_signature, w);
	if (!e->message_signature)
		e->message_signature = "";
	traits = at[F_TRAITS];
	if (traits && traits->type != TL_JSON_NULL && traits->type != TL_JSON_ARRAY)
		REFUSE("traits: not a list");
	if (w->rc == 0 && traits && traits->type == TL_JSON_ARRAY && traits->len) {
		e->traits = calloc(traits->len, sizeof(*e->traits));
		if (!e->traits)
			return -ENOMEM;
		for (i = 0; i < traits->len && w->rc == 0; i++) {
			e->n_traits = i + 1;
			read_trait(&traits->u.items[i], &e->traits[i], w);
		}
	}
	e->obj = obj;
	return w->rc;
}

static int add_refusal(struct tl_record_batch *rb, size_t index, const char *why)
{
	struct tl_record_refusal *r;

	if (tl_array_grow((void **)&rb->refused, &rb->cap_refused, rb->n_refused + 1,
			  sizeof(*rb->refused)) < 0)
		return -ENOMEM;
	r = &rb->refused[rb->n_refused++];
	r->index = index;
	snprintf(r->reason, sizeof(r->reason), "%s", why);
	return 0;
}

/*
 * Decodes record index (its payload copied at text) into a new item of rb,
 * whose arrays have room for one item per record.
 */
static int decode_one(struct tl_record_batch *rb, const struct tl_buffer_rec *rec, size_t index,
		      char *text, struct why *w)
{
	const struct tl_json *root;
	struct tl_json_error jerr;
	int rc;

	if (rec->kind != TL_BUFFER_KIND_SAMPLE && rec->kind != TL_BUFFER_KIND_EVENT)
		return REFUSE("a record of kind %u is neither a sample nor an event", rec->kind);
	rc = tl_json_parse_more(&rb->doc, text, rec->len, TL_JSON_MAX_DEPTH, &jerr, &root);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return REFUSE("not JSON: %s at byte %zu", jerr.text, jerr.offset);
	if (rec->kind == TL_BUFFER_KIND_SAMPLE) {
		struct tl_sample *s = &rb->samples[rb->n_samples];

		rc = read_sample(root, s, w);
		if (rc)
			return rc;
		s->json = rec->data;
		s->json_len = rec->len;
		rb->sample_rec[rb->n_samples++] = index;
	} else {
		struct tl_event *e = &rb->events[rb->n_events];

		rc = read_event(root, e, w);
		if (rc) {
			tl_event_fini(e);
			return rc;
		}
		e->json = rec->data;
		e->json_len = rec->len;
		rb->event_rec[rb->n_events++] = index;
	}
	return 0;
}

int tl_record_decode(struct tl_record_batch *rb, const struct tl_buffer_rec *recs, size_t n)
{
	struct why w;
	size_t i, total = 0, off;
	int rc;

	batch_reset(rb);
	/* The parser works in place and the records are in LMDB's read-only
	 * map: one copy of all payloads, reserved at once so that the values
	 * already parsed never move. */
	for (i = 0; i < n; i++)
		total += recs[i].len + 1;
	if (tl_buf_reserve(&rb->text, total) < 0)
		return -ENOMEM;
	/* Room for every record as a sample and as an event: no growth per item. */
	if (n &&
	    (tl_array_grow((void **)&rb->samples, &rb->cap_samples, n, sizeof(*rb->samples)) < 0 ||
	     tl_array_grow((void **)&rb->sample_rec, &rb->cap_sample_rec, n,
			   sizeof(*rb->sample_rec)) < 0 ||
	     tl_array_grow((void **)&rb->events, &rb->cap_events, n, sizeof(*rb->events)) < 0 ||
	     tl_array_grow((void **)&rb->event_rec, &rb->cap_event_rec, n, sizeof(*rb->event_rec)) <
		     0))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		off = rb->text.len;
		tl_buf_append(&rb->text, recs[i].data, recs[i].len);
		tl_buf_putc(&rb->text, '\0');
		w.rc = 0;
		rc = decode_one(rb, &recs[i], i, rb->text.data + off, &w);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0 && add_refusal(rb, i, w.text) < 0)
			return -ENOMEM;
	}
	return tl_buf_error(&rb->text);
}

int tl_record_peek_counter_name(const struct tl_buffer_rec *rec, char *name, size_t cap)
{
	static const char head[] = "{\"source\":", field[] = ",\"counter_name\":\"";
	const char *p = rec->data, *end = p + rec->len;

	if (rec->len < sizeof(head) - 1 || memcmp(p, head, sizeof(head) - 1) != 0)
		return -1;
	p += sizeof(head) - 1;
	if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
		p += 4;
	} else if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\' && ++p == end) /* skips the escaped character */
				return -1;
		if (p == end)
			return -1;
		p++;
	} else {
		return -1;
	}
	if ((size_t)(end - p) < sizeof(field) - 1 || memcmp(p, field, sizeof(field) - 1) != 0)
		return -1;
	p += sizeof(field) - 1;
	for (size_t n = 0; p + n < end && n + 1 < cap; n++) {
		if (p[n] == '\\')
			return -1;
		if (p[n] == '"') {
			memcpy(name, p, n);
			name[n] = '\0';
			return (int)n;
		}
		name[n] = p[n];
	}
	return -1;
}
