#include "config.h"

#include "common/decode.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pyfmt.h"
#include "common/time.h"
#include "common/utf8.h"

static const char *const err_names[TL_DECODE_NERRORS] = {
	[TL_DECODE_OK] = "ok",
	[TL_DECODE_TOO_LARGE] = "too_large",
	[TL_DECODE_TOO_DEEP] = "too_deep",
	[TL_DECODE_TOO_MANY_ITEMS] = "too_many_items",
	[TL_DECODE_EMPTY] = "empty",
	[TL_DECODE_TRUNCATED] = "truncated",
	[TL_DECODE_SYNTAX] = "syntax",
	[TL_DECODE_NOT_UTF8] = "not_utf8",
	[TL_DECODE_BAD_ENVELOPE] = "bad_envelope",
	[TL_DECODE_UNKNOWN_FORMAT] = "unknown_format",
	[TL_DECODE_MISSING_FIELD] = "missing_field",
	[TL_DECODE_WRONG_TYPE] = "wrong_type",
	[TL_DECODE_FIELD_TOO_LONG] = "field_too_long",
	[TL_DECODE_BAD_COUNTER_TYPE] = "bad_counter_type",
	[TL_DECODE_BAD_TIMESTAMP] = "bad_timestamp",
	[TL_DECODE_BAD_VALUE] = "bad_value",
	[TL_DECODE_BAD_TRAIT] = "bad_trait",
	[TL_DECODE_BAD_SIGNATURE] = "bad_signature",
};

const char *tl_decode_err_name(enum tl_decode_err e)
{
	if ((unsigned)e >= TL_DECODE_NERRORS)
		return "unknown";
	return err_names[e];
}

/*
 * Why an item or a message failed, before it becomes a reject. Kept on the
 * stack so that the happy path allocates nothing for errors.
 */
struct why {
	enum tl_decode_err code;
	char msg[192];
};

static int fail(struct why *w, enum tl_decode_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct why *w, enum tl_decode_err code, const char *fmt, ...)
{
	va_list ap;

	w->code = code;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void tl_decoded_init(struct tl_decoded *d)
{
	memset(d, 0, sizeof(*d));
}

void tl_decoded_reset(struct tl_decoded *d)
{
	size_t i;

	/* Samples own nothing: their fields point into text and the documents. */
	for (i = 0; i < d->n_events; i++)
		tl_event_fini(&d->events[i]);
	for (i = 0; i < d->n_rejects; i++) {
		free(d->rejects[i].reason);
		free(d->rejects[i].raw);
	}
	d->n_samples = d->n_events = d->n_rejects = 0;
	d->form = TL_FORM_NONE;
	d->enveloped = false;
	d->publisher_id = NULL;
	tl_buf_reset(&d->text);
	tl_json_doc_reset(&d->outer);
	tl_json_doc_reset(&d->inner);
}

void tl_decoded_fini(struct tl_decoded *d)
{
	if (!d)
		return;
	tl_decoded_reset(d);
	free(d->samples);
	free(d->events);
	free(d->rejects);
	tl_buf_fini(&d->text);
	tl_buf_fini(&d->raw);
	tl_json_doc_fini(&d->outer);
	tl_json_doc_fini(&d->inner);
	tl_decoded_init(d);
}

int tl_decoder_init(struct tl_decoder *d, const struct tl_decode_limits *limits,
		    const struct tl_signer *signer)
{
	static const struct tl_decode_limits defaults = TL_DECODE_LIMITS_DEFAULT;

	d->limits = limits ? *limits : defaults;
	if (d->limits.max_depth < 2)
		d->limits.max_depth = 2;
	d->signer = signer;
	d->sig_hint = TL_SIG_PY3;
	tl_buf_init(&d->scratch);
	return 0;
}

void tl_decoder_fini(struct tl_decoder *d)
{
	if (!d)
		return;
	tl_buf_fini(&d->scratch);
}

/* Records a reject; item (may be NULL) is serialized for the dead-letter store. */
static int add_reject(struct tl_decoded *out, const struct why *w, size_t index,
		      const struct tl_json *item)
{
	struct tl_reject *r;

	if (tl_array_grow((void **)&out->rejects, &out->cap_rejects, out->n_rejects + 1,
			  sizeof(*out->rejects)) < 0)
		return -ENOMEM;
	r = &out->rejects[out->n_rejects];
	r->code = w->code;
	r->index = index;
	r->raw = NULL;
	r->raw_len = 0;
	r->reason = NULL;
	if (out->max_details && out->n_rejects >= out->max_details) {
		out->n_rejects++;
		return 0;
	}
	r->reason = strdup(w->msg);
	if (!r->reason)
		return -ENOMEM;
	if (item) {
		tl_buf_reset(&out->raw);
		if (tl_json_write(item, &out->raw) < 0 || !(r->raw = strdup(out->raw.data))) {
			free(r->reason);
			return -ENOMEM;
		}
		r->raw_len = out->raw.len;
	}
	out->n_rejects++;
	return 0;
}

/* ---- JSON parsing with limits ------------------------------------------ */

/* Parses text[0..len) (owned by out, modified in place) into doc. */
static const struct tl_json *parse_json(const struct tl_decoder *d, struct tl_json_doc *doc,
					char *text, size_t len, unsigned max_depth,
					const char *what, struct why *w)
{
	struct tl_json_error jerr;
	int rc;

	if (len == 0) {
		fail(w, TL_DECODE_EMPTY, "%s is empty", what);
		return NULL;
	}
	if (len > d->limits.max_message_size) {
		fail(w, TL_DECODE_TOO_LARGE, "%s is %zu bytes, above max_message_size %zu", what,
		     len, d->limits.max_message_size);
		return NULL;
	}
	rc = tl_json_parse(doc, text, len, max_depth, &jerr);
	if (rc == 0)
		return doc->root;
	switch (jerr.code) {
	case TL_JSON_E_TRUNCATED:
		fail(w, TL_DECODE_TRUNCATED, "%s: truncated JSON: %s at byte %zu", what, jerr.text,
		     jerr.offset);
		break;
	case TL_JSON_E_UTF8:
		fail(w, TL_DECODE_NOT_UTF8, "%s: %s in a string at byte %zu", what, jerr.text,
		     jerr.offset);
		break;
	case TL_JSON_E_NUL:
		fail(w, TL_DECODE_BAD_VALUE, "%s: NUL character in a string at byte %zu", what,
		     jerr.offset);
		break;
	case TL_JSON_E_RANGE:
		fail(w, TL_DECODE_BAD_VALUE, "%s: %s at byte %zu", what, jerr.text, jerr.offset);
		break;
	case TL_JSON_E_DEPTH:
		fail(w, TL_DECODE_TOO_DEEP, "%s nests deeper than max_json_depth %u", what,
		     d->limits.max_depth);
		break;
	case TL_JSON_E_NOMEM:
		fail(w, TL_DECODE_TOO_LARGE, "%s: out of memory while parsing", what);
		break;
	default:
		fail(w, TL_DECODE_SYNTAX, "%s: invalid JSON at byte %zu: %s", what, jerr.offset,
		     jerr.text);
		break;
	}
	return NULL;
}

/* ---- field helpers ------------------------------------------------------ */

enum presence { OPTIONAL, REQUIRED };

/*
 * Reads a string field. Absent or null gives *out = NULL, which is an error
 * only for REQUIRED fields. Strings from JSON and msgpack are already valid
 * UTF-8 without NUL (both parsers enforce it), so only the length is checked.
 */
static int get_string(const struct tl_json *obj, const char *key, enum presence p, size_t max_len,
		      const char **out, struct why *w)
{
	const struct tl_json *v = tl_json_get(obj, key);

	*out = NULL;
	if (!v || (v->type == TL_JSON_NULL)) {
		if (p == REQUIRED)
			return fail(w, TL_DECODE_MISSING_FIELD, "%s: required field missing", key);
		return 0;
	}
	if (!(v->type == TL_JSON_STRING))
		return fail(w, TL_DECODE_WRONG_TYPE, "%s: expected a string, got %s", key,
			    tl_json_type_name(v));
	if (v->len > max_len)
		return fail(w, TL_DECODE_FIELD_TOO_LONG, "%s: %zu bytes, above the limit of %zu",
			    key, (size_t)v->len, max_len);
	if (p == REQUIRED && v->len == 0)
		return fail(w, TL_DECODE_MISSING_FIELD, "%s: must not be empty", key);
	*out = v->u.s;
	return 0;
}

static int get_timestamp(const struct tl_json *obj, const char *key, int64_t *out, struct why *w)
{
	const struct tl_json *v = tl_json_get(obj, key);

	if (!v || (v->type == TL_JSON_NULL))
		return fail(w, TL_DECODE_MISSING_FIELD, "%s: required field missing", key);
	if (!(v->type == TL_JSON_STRING))
		return fail(w, TL_DECODE_WRONG_TYPE, "%s: expected an ISO-8601 string, got %s", key,
			    tl_json_type_name(v));
	if (tl_time_parse(v->u.s, v->len, out) < 0)
		return fail(w, TL_DECODE_BAD_TIMESTAMP, "%s: '%.64s' is not a valid ISO-8601 time",
			    key, v->u.s);
	return 0;
}

/* Python's float(text): optional blanks, then a whole finite number. */
static bool parse_float_text(const char *s, double *out)
{
	char *end;
	double v;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s == '\0')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno == ERANGE || !isfinite(v))
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

/* Python's int(text): optional blanks, sign, decimal digits. */
static bool parse_int_text(const char *s, int64_t *out)
{
	char *end;
	long long v;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

/* Checks an item's signature, trying first the variant that matched last. */
static bool verify(struct tl_decoder *d, const struct tl_json *item)
{
	enum tl_sig_variant v;

	if (!tl_signature_verify_from(d->signer, item, &d->scratch, d->sig_hint, &v))
		return false;
	d->sig_hint = v;
	return true;
}

/* ---- samples ------------------------------------------------------------ */

static int decode_sample(struct tl_decoder *d, const struct tl_json *item, struct tl_sample *s,
			 struct why *w)
{
	const char *ctype;
	const struct tl_json *v;

	memset(s, 0, sizeof(*s));
	if (get_string(item, "counter_name", REQUIRED, TL_SAMPLE_MAX_NAME, &s->counter_name, w) ||
	    get_string(item, "counter_type", REQUIRED, 32, &ctype, w) ||
	    get_string(item, "counter_unit", REQUIRED, TL_SAMPLE_MAX_NAME, &s->counter_unit, w) ||
	    get_string(item, "resource_id", REQUIRED, TL_SAMPLE_MAX_NAME, &s->resource_id, w) ||
	    get_string(item, "message_id", REQUIRED, TL_SAMPLE_MAX_MESSAGE_ID, &s->message_id, w) ||
	    get_string(item, "source", OPTIONAL, TL_SAMPLE_MAX_NAME, &s->source, w) ||
	    get_string(item, "user_id", OPTIONAL, TL_SAMPLE_MAX_NAME, &s->user_id, w) ||
	    get_string(item, "project_id", OPTIONAL, TL_SAMPLE_MAX_NAME, &s->project_id, w) ||
	    get_string(item, "message_signature", OPTIONAL, 128, &s->message_signature, w) ||
	    get_timestamp(item, "timestamp", &s->timestamp, w))
		return -1;
	if (!s->message_signature)
		s->message_signature = "";
	if (tl_counter_type_parse(ctype, &s->counter_type) < 0)
		return fail(w, TL_DECODE_BAD_COUNTER_TYPE,
			    "counter_type: '%.32s' is not gauge, delta or cumulative", ctype);

	v = tl_json_get(item, "counter_volume");
	if (!v || (v->type == TL_JSON_NULL))
		return fail(w, TL_DECODE_MISSING_FIELD, "counter_volume: required field missing");
	if ((v->type == TL_JSON_INT)) {
		s->volume_is_int = true;
		s->volume_int = v->u.i;
		s->volume = (double)s->volume_int;
	} else if ((v->type == TL_JSON_REAL)) {
		s->volume = v->u.d;
	} else if ((v->type == TL_JSON_STRING)) {
		/* The API and its client send volumes as text ("12.5"). */
		if (!parse_float_text(v->u.s, &s->volume))
			return fail(w, TL_DECODE_BAD_VALUE,
				    "counter_volume: '%.32s' is not a number", v->u.s);
	} else {
		return fail(w, TL_DECODE_WRONG_TYPE, "counter_volume: expected a number, got %s",
			    tl_json_type_name(v));
	}

	v = tl_json_get(item, "resource_metadata");
	if (v && !(v->type == TL_JSON_NULL)) {
		if (!(v->type == TL_JSON_OBJECT))
			return fail(w, TL_DECODE_WRONG_TYPE,
				    "resource_metadata: expected an object, got %s",
				    tl_json_type_name(v));
		s->resource_metadata = v;
	}

	v = tl_json_get(item, "monotonic_time");
	if (v && !(v->type == TL_JSON_NULL)) {
		if (!tl_json_is_number(v))
			return fail(w, TL_DECODE_WRONG_TYPE,
				    "monotonic_time: expected a number, got %s",
				    tl_json_type_name(v));
		s->has_monotonic_time = true;
		s->monotonic_time = tl_json_number(v);
	}

	if (d->signer && !verify(d, item))
		return fail(w, TL_DECODE_BAD_SIGNATURE,
			    "message_signature does not match (sample %s, meter %s)", s->message_id,
			    s->counter_name);
	s->obj = item;
	return 0;
}

/* ---- events ------------------------------------------------------------- */

/* The text Python's str() gives a JSON value that is not a string. */
static char *python_text(const struct tl_json *v)
{
	char buf[TL_PYFMT_FLOAT_SIZE];
	struct tl_buf b;

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_INT:
		snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
		return strdup(buf);
	case TL_JSON_REAL:
		tl_pyfmt_float_py3(v->u.d, buf);
		return strdup(buf);
	case TL_JSON_TRUE:
		return strdup("True");
	case TL_JSON_FALSE:
		return strdup("False");
	case TL_JSON_NULL:
		return strdup("None");
	default:
		/* Lists and dicts: their JSON, close to Python's repr and readable. */
		tl_buf_init(&b);
		if (tl_json_write(v, &b) < 0 || !b.data) {
			tl_buf_fini(&b);
			return NULL;
		}
		return b.data;
	}
}

static int convert_trait(const struct tl_json *value, struct tl_trait *t, struct why *w)
{
	switch (t->type) {
	case TL_TRAIT_INT:
		if ((value->type == TL_JSON_INT)) {
			t->i = value->u.i;
		} else if ((value->type == TL_JSON_REAL)) {
			double f = value->u.d;

			if (!(f > -9.2e18 && f < 9.2e18))
				return fail(w, TL_DECODE_BAD_TRAIT, "trait %s: %g is out of range",
					    t->name, f);
			t->i = (int64_t)f;
		} else if ((value->type == TL_JSON_TRUE || value->type == TL_JSON_FALSE)) {
			t->i = (value->type == TL_JSON_TRUE);
		} else if (!(value->type == TL_JSON_STRING) || !parse_int_text(value->u.s, &t->i)) {
			return fail(w, TL_DECODE_BAD_TRAIT, "trait %s: integer expected, got %s",
				    t->name, tl_json_type_name(value));
		}
		return 0;
	case TL_TRAIT_FLOAT:
		if (tl_json_is_number(value)) {
			t->f = tl_json_number(value);
		} else if ((value->type == TL_JSON_TRUE || value->type == TL_JSON_FALSE)) {
			t->f = (value->type == TL_JSON_TRUE);
		} else if (!(value->type == TL_JSON_STRING) ||
			   !parse_float_text(value->u.s, &t->f)) {
			return fail(w, TL_DECODE_BAD_TRAIT, "trait %s: float expected, got %s",
				    t->name, tl_json_type_name(value));
		}
		return 0;
	case TL_TRAIT_DATETIME:
		if (!(value->type == TL_JSON_STRING) ||
		    tl_time_parse(value->u.s, value->len, &t->dt) < 0)
			return fail(w, TL_DECODE_BAD_TRAIT, "trait %s: ISO-8601 datetime expected",
				    t->name);
		return 0;
	case TL_TRAIT_NONE:
	case TL_TRAIT_TEXT:
		if ((value->type == TL_JSON_STRING)) {
			t->text = value->u.s;
			t->text_len = value->len;
		} else {
			t->owned_text = python_text(value);
			if (!t->owned_text)
				return fail(w, TL_DECODE_TOO_LARGE, "trait %s: out of memory",
					    t->name);
			t->text = t->owned_text;
			t->text_len = strlen(t->owned_text);
		}
		t->text_len = tl_utf8_prefix(t->text, t->text_len, TL_TRAIT_MAX_TEXT_CHARS);
		return 0;
	}
	return fail(w, TL_DECODE_BAD_TRAIT, "trait %s: unknown dtype", t->name);
}

static int decode_traits(struct tl_decoder *d, const struct tl_json *traits, struct tl_event *e,
			 struct why *w)
{
	size_t i, n;

	if (!traits || (traits->type == TL_JSON_NULL))
		return 0;
	if (!(traits->type == TL_JSON_ARRAY))
		return fail(w, TL_DECODE_WRONG_TYPE, "traits: expected a list, got %s",
			    tl_json_type_name(traits));
	n = traits->len;
	if (n > d->limits.max_items)
		return fail(w, TL_DECODE_TOO_MANY_ITEMS, "traits: %zu traits, above max_items %zu",
			    n, d->limits.max_items);
	if (n == 0)
		return 0;
	e->traits = calloc(n, sizeof(*e->traits));
	if (!e->traits)
		return fail(w, TL_DECODE_TOO_LARGE, "traits: out of memory");
	for (i = 0; i < n; i++) {
		const struct tl_json *tr = (&traits->u.items[i]);
		struct tl_trait *t = &e->traits[i];
		const struct tl_json *name, *dtype;

		e->n_traits = i + 1;
		if (!(tr->type == TL_JSON_ARRAY) || tr->len != 3)
			return fail(w, TL_DECODE_BAD_TRAIT,
				    "traits[%zu]: expected [name, dtype, value], got %s", i,
				    tl_json_type_name(tr));
		name = (&tr->u.items[0]);
		dtype = (&tr->u.items[1]);
		if (!(name->type == TL_JSON_STRING) || name->len == 0 ||
		    name->len > TL_TRAIT_MAX_NAME)
			return fail(w, TL_DECODE_BAD_TRAIT,
				    "traits[%zu]: name must be a string of 1 to %d bytes", i,
				    TL_TRAIT_MAX_NAME);
		t->name = name->u.s;
		if (!(dtype->type == TL_JSON_INT) || dtype->u.i < TL_TRAIT_NONE ||
		    dtype->u.i > TL_TRAIT_DATETIME)
			return fail(w, TL_DECODE_BAD_TRAIT,
				    "trait %s: dtype must be an integer from 0 to 4", t->name);
		t->type = (enum tl_trait_type)dtype->u.i;
		if (convert_trait((&tr->u.items[2]), t, w) < 0)
			return -1;
	}
	return 0;
}

static int decode_event(struct tl_decoder *d, const struct tl_json *item, struct tl_event *e,
			struct why *w)
{
	const struct tl_json *v;

	memset(e, 0, sizeof(*e));
	if (get_string(item, "message_id", REQUIRED, TL_EVENT_MAX_MESSAGE_ID, &e->message_id, w) ||
	    get_string(item, "event_type", REQUIRED, TL_EVENT_MAX_TYPE, &e->event_type, w) ||
	    get_string(item, "message_signature", OPTIONAL, 128, &e->message_signature, w) ||
	    get_timestamp(item, "generated", &e->generated, w))
		return -1;
	if (!e->message_signature)
		e->message_signature = "";
	v = tl_json_get(item, "raw");
	if (v && !(v->type == TL_JSON_NULL)) {
		if (!(v->type == TL_JSON_OBJECT))
			return fail(w, TL_DECODE_WRONG_TYPE, "raw: expected an object, got %s",
				    tl_json_type_name(v));
		e->raw = v;
	}
	if (decode_traits(d, tl_json_get(item, "traits"), e, w) < 0)
		return -1;
	if (d->signer && !verify(d, item))
		return fail(w, TL_DECODE_BAD_SIGNATURE,
			    "message_signature does not match (event %s, type %s)", e->message_id,
			    e->event_type);
	e->obj = item;
	return 0;
}

/* ---- items and forms ---------------------------------------------------- */

static int decode_item(struct tl_decoder *d, const struct tl_json *item, size_t index,
		       struct tl_decoded *out)
{
	struct why w;
	int rc;

	if (!(item && item->type == TL_JSON_OBJECT)) {
		fail(&w, TL_DECODE_WRONG_TYPE, "item %zu: expected an object, got %s", index,
		     tl_json_type_name(item));
		return add_reject(out, &w, index, item);
	}
	if (tl_json_get(item, "counter_name")) {
		if (tl_array_grow((void **)&out->samples, &out->cap_samples, out->n_samples + 1,
				  sizeof(*out->samples)) < 0)
			return -ENOMEM;
		rc = decode_sample(d, item, &out->samples[out->n_samples], &w);
		if (rc == 0) {
			out->n_samples++;
			return 0;
		}
		return add_reject(out, &w, index, item);
	}
	if (tl_json_get(item, "event_type")) {
		struct tl_event *e;

		if (tl_array_grow((void **)&out->events, &out->cap_events, out->n_events + 1,
				  sizeof(*out->events)) < 0)
			return -ENOMEM;
		e = &out->events[out->n_events];
		rc = decode_event(d, item, e, &w);
		if (rc == 0) {
			out->n_events++;
			return 0;
		}
		tl_event_fini(e);
		return add_reject(out, &w, index, item);
	}
	fail(&w, TL_DECODE_UNKNOWN_FORMAT,
	     "item %zu: neither a sample (no counter_name) nor an event (no event_type)", index);
	return add_reject(out, &w, index, item);
}

static int decode_items(struct tl_decoder *d, const struct tl_json *list, struct tl_decoded *out,
			struct why *w)
{
	size_t i, n = list->len;
	int rc;

	if (n > d->limits.max_items)
		return fail(w, TL_DECODE_TOO_MANY_ITEMS,
			    "%zu items in one message, above max_items %zu", n,
			    d->limits.max_items);
	for (i = 0; i < n; i++) {
		rc = decode_item(d, (&list->u.items[i]), i, out);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Dispatches on the shape of an (unwrapped) message. Returns 0, -1 (w set) or -ENOMEM. */
static int decode_message(struct tl_decoder *d, const struct tl_json *msg, struct tl_decoded *out,
			  struct why *w)
{
	const struct tl_json *v, *args, *data;

	if ((msg && msg->type == TL_JSON_ARRAY)) {
		out->form = TL_FORM_LIST;
		return decode_items(d, msg, out, w);
	}
	if (!(msg && msg->type == TL_JSON_OBJECT))
		return fail(w, TL_DECODE_UNKNOWN_FORMAT, "message is %s, not an object or a list",
			    tl_json_type_name(msg));
	/* Who sent it (the agents' clock skew is kept per publisher host). */
	v = tl_json_get(msg, "publisher_id");
	if (v && v->type == TL_JSON_STRING && v->len <= TL_SAMPLE_MAX_NAME)
		out->publisher_id = v->u.s;

	if ((v = tl_json_get(msg, "method")) != NULL) {
		/* An RPC cast from an Icehouse..Liberty rpc:// publisher. */
		if (!(v && v->type == TL_JSON_STRING) ||
		    strcmp(v->u.s, "record_metering_data") != 0)
			return fail(w, TL_DECODE_UNKNOWN_FORMAT,
				    "RPC method is not record_metering_data");
		args = tl_json_get(msg, "args");
		data = (args && args->type == TL_JSON_OBJECT) ? tl_json_get(args, "data") : NULL;
		out->form = TL_FORM_RPC;
		if ((data && data->type == TL_JSON_ARRAY))
			return decode_items(d, data, out, w);
		if ((data && data->type == TL_JSON_OBJECT))
			return decode_item(d, data, 0, out);
		return fail(w, TL_DECODE_BAD_ENVELOPE,
			    "record_metering_data without args.data list");
	}

	if ((v = tl_json_get(msg, "payload")) != NULL) {
		if ((v && v->type == TL_JSON_ARRAY)) {
			out->form = TL_FORM_NOTIFICATION;
			return decode_items(d, v, out, w);
		}
		data = (v && v->type == TL_JSON_OBJECT) ? tl_json_get(v, "samples") : NULL;
		if ((data && data->type == TL_JSON_ARRAY)) {
			/* telemetry.polling / telemetry.api: {"samples": [...]} */
			out->form = TL_FORM_POLLING;
			return decode_items(d, data, out, w);
		}
		return fail(w, TL_DECODE_UNKNOWN_FORMAT,
			    "notification payload is %s, neither a list nor {\"samples\": [...]}",
			    tl_json_type_name(v));
	}

	if (tl_json_get(msg, "counter_name") || tl_json_get(msg, "event_type")) {
		out->form = TL_FORM_SINGLE;
		return decode_item(d, msg, 0, out);
	}
	return fail(w, TL_DECODE_UNKNOWN_FORMAT,
		    "no payload, method, counter_name or event_type: not a ceilometer message");
}

/* Ends a whole-message failure: one reject, the matching errno. */
static int reject_message(struct tl_decoded *out, const struct why *w)
{
	size_t i;

	/* Items decoded before the failure do not survive a whole-message reject. */
	for (i = 0; i < out->n_events; i++)
		tl_event_fini(&out->events[i]);
	out->n_samples = out->n_events = 0;
	if (add_reject(out, w, 0, NULL) < 0)
		return -ENOMEM;
	return w->code == TL_DECODE_TOO_LARGE ? -EMSGSIZE : -EBADMSG;
}

/*
 * Parses a JSON body into out's documents and takes the oslo envelope off:
 * the 2.0 envelope {"oslo.version": "2.0", "oslo.message": "<JSON>"}, or
 * the bare 1.0 dict (or anything else, returned as it is). Returns the
 * message, or NULL with w set (*rc -1) or *rc -ENOMEM. out->enveloped says
 * which version it was.
 */
static const struct tl_json *unwrap(struct tl_decoder *d, const void *body, size_t len,
				    struct tl_decoded *out, struct why *w, int *rc)
{
	const struct tl_json *root, *ver, *inner_text;

	*rc = -1;
	if (len > d->limits.max_message_size) {
		fail(w, TL_DECODE_TOO_LARGE, "message is %zu bytes, above max_message_size %zu",
		     len, d->limits.max_message_size);
		return NULL;
	}
	/* The parser works in place, and items point into the text: keep a copy. */
	if (tl_buf_append(&out->text, body, len) < 0) {
		*rc = -ENOMEM;
		return NULL;
	}
	root = parse_json(d, &out->outer, out->text.data, len, d->limits.max_depth, "message", w);
	if (!root)
		return NULL;
	ver = tl_json_get(root, "oslo.version");
	inner_text = tl_json_get(root, "oslo.message");
	if (!ver || !inner_text)
		return root;
	/* oslo.messaging's 2.0 envelope: the message is JSON inside a string. */
	if (ver->type != TL_JSON_STRING || strcmp(ver->u.s, "2.0") != 0) {
		fail(w, TL_DECODE_BAD_ENVELOPE, "unsupported oslo.version %s%.16s%s",
		     ver->type == TL_JSON_STRING ? "'" : "(",
		     ver->type == TL_JSON_STRING ? ver->u.s : tl_json_type_name(ver),
		     ver->type == TL_JSON_STRING ? "'" : ")");
		return NULL;
	}
	if (inner_text->type != TL_JSON_STRING) {
		fail(w, TL_DECODE_BAD_ENVELOPE, "oslo.message is %s, not a string",
		     tl_json_type_name(inner_text));
		return NULL;
	}
	/* The string was unescaped in place; parse it in place too. The
	 * envelope itself is one level deep. */
	root = parse_json(d, &out->inner, (char *)inner_text->u.s, inner_text->len,
			  d->limits.max_depth - 1, "oslo.message", w);
	out->enveloped = root != NULL;
	return root;
}

int tl_decode_json(struct tl_decoder *d, const void *body, size_t len, struct tl_decoded *out)
{
	const struct tl_json *msg;
	struct why w;
	int rc;

	tl_decoded_reset(out);
	msg = unwrap(d, body, len, out, &w, &rc);
	if (msg)
		rc = decode_message(d, msg, out, &w);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return reject_message(out, &w);
	return 0;
}

int tl_decode_notification(struct tl_decoder *d, const void *body, size_t len,
			   struct tl_decoded *out, const struct tl_json **msg)
{
	const struct tl_json *m, *v;
	struct why w;
	int rc;

	tl_decoded_reset(out);
	*msg = NULL;
	m = unwrap(d, body, len, out, &w, &rc);
	if (!m && rc == -ENOMEM)
		return rc;
	if (m && m->type != TL_JSON_OBJECT) {
		fail(&w, TL_DECODE_UNKNOWN_FORMAT, "notification is %s, not an object",
		     tl_json_type_name(m));
		m = NULL;
	} else if (m && !((v = tl_json_get(m, "event_type")) && v->type == TL_JSON_STRING)) {
		/* oslo.messaging would hand it over with event_type None; no
		 * definition can match it, so nothing would come of it. */
		fail(&w, v ? TL_DECODE_WRONG_TYPE : TL_DECODE_MISSING_FIELD, "event_type: %s",
		     v ? "not a string" : "missing");
		m = NULL;
	}
	if (!m)
		return reject_message(out, &w);
	v = tl_json_get(m, "publisher_id");
	if (v && v->type == TL_JSON_STRING && v->len <= TL_SAMPLE_MAX_NAME)
		out->publisher_id = v->u.s;
	out->form = TL_FORM_NOTIFICATION;
	*msg = m;
	return 0;
}

/* ---- msgpack ------------------------------------------------------------ */

static uint64_t be_read(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Walks a msgpack body without building anything and checks that every
 * declared length fits in the bytes that remain, that nesting stays within
 * max_depth and that no extension type is used. msgpack-c allocates a
 * container's slots as soon as it reads the header, so a 5-byte datagram
 * claiming 2^32 elements would otherwise cost gigabytes.
 */
static int mpack_prescan(const unsigned char *p, size_t len, unsigned max_depth, struct why *w)
{
	/* remaining[k] = objects still expected at depth k. */
	uint64_t remaining[130];
	unsigned depth = 0;
	size_t i = 0;

	if (max_depth > 128)
		max_depth = 128;
	remaining[0] = 1;
	while (depth > 0 || remaining[0] > 0) {
		uint64_t count = 0, skip = 0;
		unsigned mult = 0; /* 1 for arrays, 2 for maps */
		unsigned char c;

		if (remaining[depth] == 0) {
			depth--;
			continue;
		}
		remaining[depth]--;
		if (i >= len)
			return fail(w, TL_DECODE_TRUNCATED, "msgpack: truncated at byte %zu", i);
		c = p[i++];
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
			skip = 0;
		} else if (c >= 0x80 && c <= 0x8f) {
			count = c & 0x0f;
			mult = 2;
		} else if (c >= 0x90 && c <= 0x9f) {
			count = c & 0x0f;
			mult = 1;
		} else if (c >= 0xa0 && c <= 0xbf) {
			skip = c & 0x1f;
		} else {
			static const unsigned char hdr[] = {
				/* c4..c6 bin */ 1,    2, 4,
				/* c7..c9 ext */ 0,    0, 0,
				/* ca, cb float */ 0,  0,
				/* cc..cf uint */ 0,   0, 0, 0,
				/* d0..d3 int */ 0,    0, 0, 0,
				/* d4..d8 fixext */ 0, 0, 0, 0, 0,
				/* d9..db str */ 1,    2, 4,
				/* dc, dd array */ 2,  4,
				/* de, df map */ 2,    4,
			};
			static const unsigned char fixed[] = {
				0, 0, 0, 0, 0, 0, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8,
			};
			unsigned h;

			if (c == 0xc1)
				return fail(w, TL_DECODE_SYNTAX,
					    "msgpack: reserved byte 0xc1 at %zu", i - 1);
			if ((c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8))
				return fail(w, TL_DECODE_UNKNOWN_FORMAT,
					    "msgpack: extension types are not accepted (byte %zu)",
					    i - 1);
			if (c >= 0xca && c <= 0xd3) {
				skip = fixed[c - 0xc4];
			} else {
				h = hdr[c - 0xc4];
				if (len - i < h)
					return fail(w, TL_DECODE_TRUNCATED,
						    "msgpack: truncated at byte %zu", i);
				count = be_read(p + i, h);
				i += h;
				if (c >= 0xdc && c <= 0xdd)
					mult = 1;
				else if (c >= 0xde)
					mult = 2;
				else
					skip = count;
			}
		}
		if (mult) {
			/* Every element takes at least one byte. */
			if (count > (len - i) / mult)
				return fail(w, TL_DECODE_TRUNCATED,
					    "msgpack: container of %llu elements at byte %zu "
					    "exceeds the "
					    "data",
					    (unsigned long long)count, i);
			if (count) {
				if (depth + 1 > max_depth)
					return fail(w, TL_DECODE_TOO_DEEP,
						    "msgpack: nests deeper than max_json_depth %u",
						    max_depth);
				remaining[++depth] = count * mult;
			}
		} else if (skip) {
			if (skip > len - i)
				return fail(w, TL_DECODE_TRUNCATED,
					    "msgpack: truncated at byte %zu", i);
			i += skip;
		}
	}
	if (i != len)
		return fail(w, TL_DECODE_SYNTAX, "msgpack: %zu bytes of trailing data", len - i);
	return 0;
}

/* A msgpack str, raw or bin: text only if it is UTF-8 without NUL. Copied, NUL-terminated. */
static int mpack_string(struct tl_json_doc *doc, const char *p, uint32_t n, const char **out,
			struct why *w)
{
	char *copy;

	if (!tl_utf8_valid(p, n))
		return fail(w, TL_DECODE_NOT_UTF8, "msgpack: a string is not valid UTF-8");
	/* msgpack-c gives a NULL pointer for an empty string: no memchr/memcpy then. */
	if (n && memchr(p, '\0', n))
		return fail(w, TL_DECODE_BAD_VALUE, "msgpack: NUL character in a string");
	copy = tl_json_doc_alloc(doc, (size_t)n + 1);
	if (!copy)
		return -ENOMEM;
	if (n)
		memcpy(copy, p, n);
	copy[n] = '\0';
	*out = copy;
	return 0;
}

/* Converts a msgpack object into a JSON value built in doc's arena. */
static int mpack_to_json(struct tl_json_doc *doc, const msgpack_object *o, struct tl_json *v,
			 struct why *w)
{
	uint32_t i;
	int rc;

	memset(v, 0, sizeof(*v));
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		v->type = TL_JSON_NULL;
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		v->type = o->via.boolean ? TL_JSON_TRUE : TL_JSON_FALSE;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return fail(w, TL_DECODE_BAD_VALUE, "msgpack: integer above 2^63-1");
		v->type = TL_JSON_INT;
		v->u.i = (int64_t)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		v->type = TL_JSON_INT;
		v->u.i = o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return fail(w, TL_DECODE_BAD_VALUE, "msgpack: NaN or infinite number");
		v->type = TL_JSON_REAL;
		v->u.d = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_STR:
		v->type = TL_JSON_STRING;
		v->len = o->via.str.size;
		return mpack_string(doc, o->via.str.ptr, o->via.str.size, &v->u.s, w);
	case MSGPACK_OBJECT_BIN:
		v->type = TL_JSON_STRING;
		v->len = o->via.bin.size;
		return mpack_string(doc, o->via.bin.ptr, o->via.bin.size, &v->u.s, w);
	case MSGPACK_OBJECT_ARRAY: {
		struct tl_json *items = NULL;

		if (o->via.array.size) {
			items = tl_json_doc_alloc(doc, o->via.array.size * sizeof(*items));
			if (!items)
				return -ENOMEM;
		}
		for (i = 0; i < o->via.array.size; i++)
			if ((rc = mpack_to_json(doc, &o->via.array.ptr[i], &items[i], w)) != 0)
				return rc;
		v->type = TL_JSON_ARRAY;
		v->len = o->via.array.size;
		v->u.items = items;
		return 0;
	}
	case MSGPACK_OBJECT_MAP: {
		struct tl_json_member *members = NULL;

		if (o->via.map.size) {
			members = tl_json_doc_alloc(doc, o->via.map.size * sizeof(*members));
			if (!members)
				return -ENOMEM;
		}
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			struct tl_json_member *m = &members[i];

			if (k->type == MSGPACK_OBJECT_STR)
				rc = mpack_string(doc, k->via.str.ptr, k->via.str.size, &m->key, w);
			else if (k->type == MSGPACK_OBJECT_BIN)
				rc = mpack_string(doc, k->via.bin.ptr, k->via.bin.size, &m->key, w);
			else
				rc = fail(w, TL_DECODE_WRONG_TYPE,
					  "msgpack: a map key is not a string");
			if (rc != 0)
				return rc;
			m->klen = (uint32_t)strlen(m->key);
			if ((rc = mpack_to_json(doc, &o->via.map.ptr[i].val, &m->val, w)) != 0)
				return rc;
		}
		v->type = TL_JSON_OBJECT;
		v->len = o->via.map.size;
		v->u.members = members;
		return 0;
	}
	default:
		break;
	}
	return fail(w, TL_DECODE_UNKNOWN_FORMAT, "msgpack: unsupported type %d", (int)o->type);
}

int tl_decode_msgpack(struct tl_decoder *d, const void *data, size_t len, struct tl_decoded *out)
{
	msgpack_unpacked res;
	struct tl_json *obj;
	struct why w;
	size_t off = 0;
	int rc = -1;

	tl_decoded_reset(out);
	msgpack_unpacked_init(&res);
	if (len == 0) {
		fail(&w, TL_DECODE_EMPTY, "datagram is empty");
		goto out;
	}
	if (len > d->limits.max_message_size) {
		fail(&w, TL_DECODE_TOO_LARGE, "datagram is %zu bytes, above max_message_size %zu",
		     len, d->limits.max_message_size);
		goto out;
	}
	if (mpack_prescan(data, len, d->limits.max_depth, &w) < 0)
		goto out;
	if (msgpack_unpack_next(&res, data, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		fail(&w, TL_DECODE_SYNTAX, "msgpack: cannot decode");
		goto out;
	}
	if (res.data.type != MSGPACK_OBJECT_MAP) {
		fail(&w, TL_DECODE_UNKNOWN_FORMAT, "msgpack: expected a sample map, got type %d",
		     (int)res.data.type);
		goto out;
	}
	obj = tl_json_doc_alloc(&out->inner, sizeof(*obj));
	if (!obj) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mpack_to_json(&out->inner, &res.data, obj, &w);
	if (rc != 0)
		goto out;
	out->form = TL_FORM_SINGLE;
	rc = decode_item(d, obj, 0, out);
out:
	msgpack_unpacked_destroy(&res);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return reject_message(out, &w);
	return 0;
}
