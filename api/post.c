/*
 * post.c — POST /v2/meters/{name} (docs/compatibility.md §7): the posted OldSample list
 * is checked as ceilometer 6.0 checked it, filled in (user and project from
 * the caller, source "<project>:<source>", a uuid1 message_id, the time),
 * turned into signed meter messages (§1.3, §2) and then decoded by the same
 * decoder as every other input, so that a posted sample is exactly what an
 * agent would have sent. It then goes to the collector's buffer (every
 * dispatcher gets it) or, with direct=true or without a collector in this
 * process, straight to storage. The answer is 201 with the samples echoed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "api/post.h"
#include "api/render.h"
#include "api/request.h"
#include "common/log.h"
#include "common/signature.h"
#include "common/time.h"

#define COMPONENT "api"

static const char *const ATTRS[] = {
	"source",	"counter_name",	     "counter_type",
	"counter_unit", "counter_volume",    "user_id",
	"project_id",	"resource_id",	     "timestamp",
	"recorded_at",	"resource_metadata", "message_id",
	NULL,
};

/* oslo strutils.bool_from_string(strict=False). */
static bool bool_from_string(const char *s)
{
	static const char *const yes[] = {"1", "t", "true", "on", "y", "yes"};
	size_t i;

	for (i = 0; s && i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return true;
	return false;
}

/* A version 1 UUID, as Python's uuid.uuid1() with a random node. */
static void uuid1(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	/* 100 ns intervals from 1582-10-15 to 1970-01-01. */
	uint64_t t = (uint64_t)tl_time_now() * 10 + 0x01B21DD213814000ULL;
	uint8_t u[16], rnd[8];
	size_t i;
	char *p = out;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	u[0] = (uint8_t)(t >> 24);
	u[1] = (uint8_t)(t >> 16);
	u[2] = (uint8_t)(t >> 8);
	u[3] = (uint8_t)t;
	u[4] = (uint8_t)(t >> 40);
	u[5] = (uint8_t)(t >> 32);
	u[6] = (uint8_t)(((t >> 56) & 0x0f) | 0x10);
	u[7] = (uint8_t)(t >> 48);
	u[8] = (uint8_t)((rnd[0] & 0x3f) | 0x80);
	u[9] = rnd[1];
	memcpy(u + 10, rnd + 2, 6);
	u[10] |= 0x01; /* a random node has the multicast bit set (RFC 4122 4.5) */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

/* WSME's InvalidInput text. */
static int invalid(struct tl_api_req *r, const char *field, const char *value, const char *msg)
{
	return tl_api_error(r, 400, "Invalid input for field/attribute %s. Value: '%.200s'. %s",
			    field, value ? value : "None", msg);
}

/* A mandatory or optional text attribute. Returns 0 (value or NULL in *out) or answered. */
static int text_attr(struct tl_api_req *r, const struct tl_json *o, const char *name,
		     bool mandatory, const char **out)
{
	const struct tl_json *v = tl_json_get(o, name);

	*out = NULL;
	if (!v || v->type == TL_JSON_NULL) {
		if (mandatory)
			return invalid(r, name, NULL, "Mandatory field missing."), 400;
		return 0;
	}
	if (v->type != TL_JSON_STRING)
		return invalid(r, name, tl_json_type_name(v), "Wrong type: expected a string."),
		       400;
	if (v->len > TL_SAMPLE_MAX_NAME)
		return invalid(r, name, v->u.s, "Longer than 255 characters."), 400;
	*out = v->u.s;
	return 0;
}

/* restore_nesting(): "a.b": v becomes {"a": {"b": v}}. keys are sorted. */
struct kv {
	const char *k;
	const struct tl_json *v;
};

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

static void write_nested(struct tl_buf *b, struct kv *e, size_t n, size_t depth)
{
	size_t i = 0, first = 1;

	tl_buf_putc(b, '{');
	while (i < n) {
		const char *k = e[i].k;
		const char *dot = strchr(k, '.');
		size_t seg = dot ? (size_t)(dot - k) : strlen(k), j = i;
		bool nested = false;

		/* The run of keys with this first segment. */
		while (j < n && strncmp(e[j].k, k, seg) == 0 &&
		       (e[j].k[seg] == '.' || e[j].k[seg] == '\0')) {
			if (e[j].k[seg] == '.')
				nested = true;
			j++;
		}
		if (!first)
			tl_buf_append(b, ", ", 2);
		first = 0;
		tl_json_write_string(k, seg, b);
		tl_buf_append(b, ": ", 2);
		if (nested && depth < 32) {
			/* Keys of the run past the segment; a bare key in the run is
			 * overridden by the nested dict. */
			size_t m = 0, x;

			for (x = i; x < j; x++)
				if (e[x].k[seg] == '.')
					e[i + m++] = (struct kv){e[x].k + seg + 1, e[x].v};
			write_nested(b, e + i, m, depth + 1);
		} else {
			tl_json_write(e[j - 1].v, b);
		}
		i = j;
	}
	tl_buf_putc(b, '}');
}

/* Checks one posted sample and appends its meter message (unsigned) and its echo. */
struct posted {
	const char *source, *counter_name, *counter_type, *counter_unit, *user_id, *project_id,
		*resource_id;
	double volume;
	int64_t timestamp;
	const struct tl_json *metadata;
	char message_id[37];
	char source_full[600];
};

static int check_sample(struct tl_api_req *r, const char *meter, const struct tl_json *o,
			struct posted *p)
{
	const struct tl_json *v;
	enum tl_counter_type ct;
	char unknown[256];
	size_t i, j, ulen = 0;
	const char *def_source = r->api->conf->sample_source;

	memset(p, 0, sizeof(*p));
	if (o->type != TL_JSON_OBJECT)
		return tl_api_error(r, 400,
				    "Invalid input for field/attribute samples. Value: '%s'. "
				    "Each sample must be an object",
				    tl_json_type_name(o)),
		       400;
	unknown[0] = '\0';
	for (i = 0; i < o->len; i++) {
		for (j = 0; ATTRS[j]; j++)
			if (strcmp(o->u.members[i].key, ATTRS[j]) == 0)
				break;
		if (!ATTRS[j] && ulen + o->u.members[i].klen + 3 < sizeof(unknown))
			ulen += (size_t)snprintf(unknown + ulen, sizeof(unknown) - ulen, "%s%s",
						 ulen ? ", " : "", o->u.members[i].key);
	}
	if (ulen)
		return tl_api_error(r, 400, "Unknown attribute for argument samples: %s", unknown),
		       400;
	if (text_attr(r, o, "counter_name", true, &p->counter_name) ||
	    text_attr(r, o, "counter_type", true, &p->counter_type) ||
	    text_attr(r, o, "counter_unit", true, &p->counter_unit) ||
	    text_attr(r, o, "resource_id", true, &p->resource_id) ||
	    text_attr(r, o, "source", false, &p->source) ||
	    text_attr(r, o, "user_id", false, &p->user_id) ||
	    text_attr(r, o, "project_id", false, &p->project_id))
		return 400;
	v = tl_json_get(o, "counter_volume");
	if (!v || v->type == TL_JSON_NULL)
		return invalid(r, "counter_volume", NULL, "Mandatory field missing."), 400;
	if (tl_json_is_number(v)) {
		p->volume = tl_json_number(v);
	} else if (v->type == TL_JSON_STRING) {
		char *end;

		p->volume = strtod(v->u.s, &end);
		while (*end == ' ')
			end++;
		if (end == v->u.s || *end || !isfinite(p->volume))
			return invalid(r, "counter_volume", v->u.s, "unable to convert to float"),
			       400;
	} else {
		return invalid(r, "counter_volume", tl_json_type_name(v),
			       "unable to convert to float"),
		       400;
	}
	if (strcmp(p->counter_name, meter) != 0)
		return tl_api_error(r, 400,
				    "Invalid input for field/attribute counter_name. Value: "
				    "'%.200s'. should be %.200s",
				    p->counter_name, meter),
		       400;
	if (tl_counter_type_parse(p->counter_type, &ct) < 0)
		return tl_api_error(r, 400, "The counter type must be: gauge, delta, cumulative"),
		       400;
	v = tl_json_get(o, "message_id");
	if (v && v->type != TL_JSON_NULL)
		return invalid(r, "message_id", v->type == TL_JSON_STRING ? v->u.s : "?",
			       "The message_id must not be set"),
		       400;
	v = tl_json_get(o, "timestamp");
	p->timestamp = tl_time_now();
	if (v && v->type != TL_JSON_NULL &&
	    (v->type != TL_JSON_STRING || tl_time_parse(v->u.s, v->len, &p->timestamp) < 0))
		return invalid(r, "samples", v->type == TL_JSON_STRING ? v->u.s : "?",
			       "Invalid timestamp"),
		       400;
	v = tl_json_get(o, "resource_metadata");
	if (v && v->type != TL_JSON_NULL) {
		if (v->type != TL_JSON_OBJECT)
			return invalid(r, "resource_metadata", tl_json_type_name(v),
				       "Wrong type: expected an object of strings"),
			       400;
		for (i = 0; i < v->len; i++) {
			const struct tl_json *m = &v->u.members[i].val;

			if (m->type != TL_JSON_STRING && m->type != TL_JSON_NULL)
				return invalid(r, "resource_metadata", v->u.members[i].key,
					       "Wrong type: metadata values must be strings"),
				       400;
		}
		p->metadata = v;
	}
	/* The caller's identity fills what is missing; a non-admin posts to its own project only.
	 */
	if (!r->who.admin && p->project_id && r->who.project_id &&
	    strcmp(p->project_id, r->who.project_id) != 0)
		return invalid(r, "project_id", p->project_id,
			       "can not post samples to other projects"),
		       400;
	if (!p->user_id)
		p->user_id = r->who.user_id;
	if (!p->project_id)
		p->project_id = r->who.project_id;
	snprintf(p->source_full, sizeof(p->source_full), "%s:%s",
		 p->project_id ? p->project_id : "None", p->source ? p->source : def_source);
	uuid1(p->message_id);
	return 0;
}

static int put_kv_str(struct tl_buf *b, const char *k, const char *v, bool first)
{
	if (!first)
		tl_buf_append(b, ", ", 2);
	tl_buf_putc(b, '"');
	tl_buf_puts(b, k);
	tl_buf_append(b, "\": ", 3);
	return tl_api_put_str(b, v);
}

/* The meter message of §1.3, without its signature and closing brace. */
static void put_message(struct tl_buf *b, const struct posted *p)
{
	struct kv stack[64], *e = stack;
	size_t n = p->metadata ? p->metadata->len : 0, i;

	put_kv_str(b, "source", p->source_full, true);
	put_kv_str(b, "counter_name", p->counter_name, false);
	put_kv_str(b, "counter_type", p->counter_type, false);
	put_kv_str(b, "counter_unit", p->counter_unit, false);
	tl_buf_puts(b, ", \"counter_volume\": ");
	tl_api_put_float(b, p->volume);
	put_kv_str(b, "user_id", p->user_id, false);
	put_kv_str(b, "project_id", p->project_id, false);
	put_kv_str(b, "resource_id", p->resource_id, false);
	tl_buf_puts(b, ", \"timestamp\": ");
	tl_api_put_time(b, p->timestamp);
	tl_buf_puts(b, ", \"resource_metadata\": ");
	if (n > sizeof(stack) / sizeof(stack[0]))
		e = malloc(n * sizeof(*e));
	if (!e) {
		tl_buf_puts(b, "{}");
	} else {
		for (i = 0; i < n; i++)
			e[i] = (struct kv){p->metadata->u.members[i].key,
					   &p->metadata->u.members[i].val};
		qsort(e, n, sizeof(*e), kv_cmp);
		write_nested(b, e, n, 0);
		if (e != stack)
			free(e);
	}
	put_kv_str(b, "message_id", p->message_id, false);
}

/* The echo of one accepted sample (§7's 201 answer). */
static void put_echo(struct tl_buf *b, const struct posted *p)
{
	tl_buf_putc(b, '{');
	put_kv_str(b, "counter_name", p->counter_name, true);
	put_kv_str(b, "counter_type", p->counter_type, false);
	put_kv_str(b, "counter_unit", p->counter_unit, false);
	tl_buf_puts(b, ", \"counter_volume\": ");
	tl_api_put_float(b, p->volume);
	put_kv_str(b, "resource_id", p->resource_id, false);
	put_kv_str(b, "project_id", p->project_id, false);
	put_kv_str(b, "user_id", p->user_id, false);
	if (p->metadata) {
		tl_buf_puts(b, ", \"resource_metadata\": ");
		tl_json_write(p->metadata, b);
	}
	put_kv_str(b, "source", p->source_full, false);
	put_kv_str(b, "message_id", p->message_id, false);
	tl_buf_puts(b, ", \"timestamp\": ");
	tl_api_put_time(b, p->timestamp);
	tl_buf_putc(b, '}');
}

int tl_api_post_samples(struct tl_api_req *r, const char *meter)
{
	static const char *const allowed[] = {"direct"};
	struct tl_api_thread *t = r->t;
	struct tl_json_error jerr;
	const struct tl_json *body;
	struct tl_buf msgs, one, echo;
	struct posted *p = NULL;
	const char *direct_s;
	bool direct;
	size_t i, n;
	int rc;

	for (i = 0; i < r->n_args; i++)
		if (strcmp(r->names[i], allowed[0]) != 0)
			return tl_api_error(r, 400, "Unknown argument: \"%s\"", r->names[i]);
	direct_s = tl_api_arg(r, "direct", NULL);
	direct = bool_from_string(direct_s);
	if (r->body_len == 0)
		return tl_api_error(r, 400, "Samples should be included in request body");
	rc = tl_json_parse(&t->doc, r->body, r->body_len, 64, &jerr);
	if (rc < 0)
		return tl_api_error(r, 400, "The request body is not valid JSON: %s at byte %zu",
				    jerr.text, jerr.offset);
	body = t->doc.root;
	if (body->type != TL_JSON_ARRAY)
		return tl_api_error(r, 400,
				    "Invalid input for field/attribute samples. Value: '%s'. "
				    "Expected a list of samples",
				    tl_json_type_name(body));
	n = body->len;
	if (n == 0)
		return tl_api_error(r, 400, "Samples should be included in request body");
	p = calloc(n, sizeof(*p));
	if (!p)
		return tl_api_error(r, 500, "out of memory");
	tl_buf_init(&msgs);
	tl_buf_init(&one);
	tl_buf_init(&echo);
	for (i = 0; i < n; i++)
		if (check_sample(r, meter, &body->u.items[i], &p[i]))
			goto out;

	/* Signed meter messages, as an agent would have published them. */
	tl_buf_putc(&msgs, '[');
	for (i = 0; i < n; i++) {
		char sig[TL_SIG_HEX_LEN + 1];

		tl_buf_reset(&one);
		tl_buf_putc(&one, '{');
		put_message(&one, &p[i]);
		tl_buf_putc(&one, '}');
		/* Sign the parsed message: the same walk that verifies it. */
		tl_buf_reset(&t->scratch);
		tl_buf_append(&t->scratch, one.data, one.len);
		if (tl_buf_error(&one) || tl_buf_error(&t->scratch)) {
			tl_api_error(r, 500, "out of memory");
			goto out;
		}
		rc = tl_json_parse(&t->meta, t->scratch.data, t->scratch.len, 64, &jerr);
		if (rc == 0)
			rc = tl_signature_compute(r->api->signer, t->meta.root, TL_SIG_PY3, &echo,
						  sig);
		if (rc < 0) {
			tl_api_error(r, 500, "cannot sign the sample: %s", strerror(-rc));
			goto out;
		}
		tl_buf_reset(&echo);
		if (i)
			tl_buf_append(&msgs, ", ", 2);
		tl_buf_append(&msgs, one.data, one.len - 1);
		tl_buf_puts(&msgs, ", \"message_signature\": \"");
		tl_buf_puts(&msgs, sig);
		tl_buf_puts(&msgs, "\"}");
	}
	tl_buf_putc(&msgs, ']');
	if (tl_buf_error(&msgs)) {
		tl_api_error(r, 500, "out of memory");
		goto out;
	}
	rc = tl_decode_json(&t->dec, msgs.data, msgs.len, &t->decoded);
	if (rc < 0 || t->decoded.n_rejects) {
		const char *why = t->decoded.n_rejects ? t->decoded.rejects[0].reason : "";

		tl_api_error(r, 400, "Invalid input for field/attribute samples. %s",
			     why ? why : "");
		goto out;
	}

	if (!direct && r->api->sink) {
		const struct tl_sample **v = malloc(n * sizeof(*v));

		if (!v) {
			tl_api_error(r, 500, "out of memory");
			goto out;
		}
		for (i = 0; i < t->decoded.n_samples; i++)
			v[i] = &t->decoded.samples[i];
		tl_buf_reset(&t->why);
		rc = r->api->sink->submit(r->api->sink->cls, v, t->decoded.n_samples, &t->why);
		free(v);
		if (rc == -ENOSPC) {
			tl_api_error(r, 503, "The collector's buffer is full; try again later");
			goto out;
		}
		if (rc < 0) {
			tl_api_error(r, 500, "cannot queue the samples: %s",
				     t->why.len ? t->why.data : strerror(-rc));
			goto out;
		}
	} else {
		struct tl_storage *s = tl_api_store(r, false);
		struct tl_store_report rep = {0};
		const struct tl_sample **v;

		if (!s)
			goto out;
		v = malloc(n * sizeof(*v));
		rep.refused = calloc(n, 1);
		if (!v || !rep.refused) {
			free(v);
			free(rep.refused);
			tl_api_error(r, 500, "out of memory");
			goto out;
		}
		for (i = 0; i < t->decoded.n_samples; i++)
			v[i] = &t->decoded.samples[i];
		tl_buf_reset(&t->why);
		rep.why = &t->why;
		rc = tl_storage_record_samples(s, v, t->decoded.n_samples, &rep);
		free(v);
		free(rep.refused);
		if (rc < 0) {
			tl_api_storage_error(r, rc, "storing samples");
			goto out;
		}
		if (rep.n_refused) {
			tl_api_error(r, 400, "The database refused a sample: %s",
				     t->why.len ? t->why.data : "?");
			goto out;
		}
	}
	tl_buf_reset(&r->out);
	tl_buf_putc(&r->out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			tl_buf_append(&r->out, ", ", 2);
		put_echo(&r->out, &p[i]);
	}
	tl_buf_putc(&r->out, ']');
	if (tl_buf_error(&r->out)) {
		/* Stored already: the echo alone failed, and a partial one is never sent. */
		tl_api_answer_failed(r);
		goto out;
	}
	r->status = 201;
out:
	free(p);
	tl_buf_fini(&msgs);
	tl_buf_fini(&one);
	tl_buf_fini(&echo);
	return 0;
}
