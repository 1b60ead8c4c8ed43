/*
 * Unit tests for dispatchers/dispatcher.c: the registry, ceilometer's meter
 * filters, and the wrappers, driven through a fake dispatcher that answers
 * OK, RETRY or DROP on script.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "dispatchers/dispatcher.h"

/* ---------------------------------------------------------------- the fake */

#define MAX_SEEN 16

struct fake {
	enum tl_dispatch_status script[8]; /* answers, in order; OK once it runs out */
	size_t n_script;
	const char *why; /* reason given with RETRY and DROP; NULL: none */
	size_t calls;	 /* dispatch() calls */
	size_t n_samples, n_events;
	const struct tl_sample *const *samples; /* the arrays of the last call */
	const struct tl_event *const *events;
	char seen[MAX_SEEN][32]; /* meters of the last call */
	int init_rc, flush_rc, reopen_rc;
	int inits, flushes, reopens, finis;
	void *fini_ctx;
};

static struct fake fake;

static int fake_init(const struct tl_dispatcher_conf *conf, void **out_ctx)
{
	(void)conf;
	fake.inits++;
	if (fake.init_rc < 0)
		return fake.init_rc;
	*out_ctx = &fake;
	return 0;
}

static enum tl_dispatch_status fake_dispatch(void *ctx, const struct tl_dispatch_batch *b,
					     struct tl_buf *why)
{
	struct fake *f = ctx;
	enum tl_dispatch_status st = f->calls < f->n_script ? f->script[f->calls] : TL_DISPATCH_OK;
	size_t i;

	assert_ptr_equal(f, &fake);
	assert_non_null(why);
	assert_true(b->n_samples + b->n_events > 0);
	f->calls++;
	f->n_samples = b->n_samples;
	f->n_events = b->n_events;
	f->samples = b->samples;
	f->events = b->events;
	for (i = 0; i < b->n_samples && i < MAX_SEEN; i++)
		snprintf(f->seen[i], sizeof(f->seen[i]), "%s", b->samples[i]->counter_name);
	if (st != TL_DISPATCH_OK && f->why)
		tl_buf_puts(why, f->why);
	return st;
}

static int fake_flush(void *ctx)
{
	assert_ptr_equal(ctx, &fake);
	fake.flushes++;
	return fake.flush_rc;
}

static int fake_reopen(void *ctx)
{
	assert_ptr_equal(ctx, &fake);
	fake.reopens++;
	return fake.reopen_rc;
}

static void fake_fini(void *ctx)
{
	fake.finis++;
	fake.fini_ctx = ctx;
}

static const struct tl_dispatcher_desc fake_desc = {
	.conf = {.name = "fake"},
	.init = fake_init,
	.dispatch = fake_dispatch,
	.flush = fake_flush,
	.reopen = fake_reopen,
	.fini = fake_fini,
};

/* Only the required entries: the wrappers supply the rest. */
static const struct tl_dispatcher_desc fake_min_desc = {
	.conf = {.name = "fake-min"},
	.init = fake_init,
	.dispatch = fake_dispatch,
};

/* ---------------------------------------------------------------- records */

static const char *const meters[] = {"cpu", "disk.read.bytes", "memory", "disk.write.bytes",
				     "network.incoming.bytes"};
#define N_METERS (sizeof(meters) / sizeof(meters[0]))

static struct tl_sample sample_v[N_METERS];
static const struct tl_sample *sample_p[N_METERS];
static struct tl_event event_v[3];
static const struct tl_event *event_p[3];

/* A list of string literals, as the configuration loader would give it (never written to). */
#define STRS(...) ((char **)(const char *[]){__VA_ARGS__})

static struct tl_conf_strlist list_of(char **v, size_t n)
{
	struct tl_conf_strlist l = {v, n};

	return l;
}

static int setup(void **state)
{
	static char id[N_METERS + 3][16];
	size_t i;

	(void)state;
	memset(&fake, 0, sizeof(fake));
	memset(sample_v, 0, sizeof(sample_v));
	memset(event_v, 0, sizeof(event_v));
	for (i = 0; i < N_METERS; i++) {
		snprintf(id[i], sizeof(id[i]), "s%zu", i);
		sample_v[i].counter_name = meters[i];
		sample_v[i].message_id = id[i];
		sample_p[i] = &sample_v[i];
	}
	for (i = 0; i < 3; i++) {
		snprintf(id[N_METERS + i], sizeof(id[0]), "e%zu", i);
		event_v[i].message_id = id[N_METERS + i];
		event_v[i].event_type = "compute.instance.create.end";
		event_p[i] = &event_v[i];
	}
	return 0;
}

static struct tl_dispatch_batch full_batch(void)
{
	struct tl_dispatch_batch b = {sample_p, N_METERS, event_p, 3, NULL};

	return b;
}

/* An instance of the fake for meters m[0..n) and events on or off. */
static struct tl_dispatcher *make(struct tl_dispatcher_conf *conf, char **m, size_t n, bool events)
{
	struct tl_dispatcher *d = NULL;

	memset(conf, 0, sizeof(*conf));
	conf->name = (char *)"fake1";
	conf->meters = list_of(m, n);
	conf->events = events;
	assert_int_equal(tl_dispatcher_create_desc(&fake_desc, conf, &d), 0);
	assert_non_null(d);
	return d;
}

/* ---------------------------------------------------------------- registry */

static void test_registry(void **state)
{
	size_t i;

	(void)state;
	assert_non_null(tl_dispatcher_find("file"));
	assert_string_equal(tl_dispatcher_find("file")->conf.name, "file");
	assert_non_null(tl_dispatcher_find("database"));
	assert_string_equal(tl_dispatcher_find("database")->conf.name, "database");
	assert_non_null(tl_dispatcher_find("http"));
	assert_string_equal(tl_dispatcher_find("http")->conf.name, "http");
	assert_non_null(tl_dispatcher_find("gnocchi"));
	assert_string_equal(tl_dispatcher_find("gnocchi")->conf.name, "gnocchi");
	assert_null(tl_dispatcher_find("FILE"));
	assert_null(tl_dispatcher_find(""));
	assert_null(tl_dispatcher_find(NULL));
	for (i = 0; tl_dispatcher_registry[i]; i++) {
		const struct tl_dispatcher_desc *o = tl_dispatcher_registry[i];

		assert_non_null(o->conf.name);
		/* Each type describes its own configuration. */
		assert_non_null(o->conf.items);
		assert_true(o->conf.size > 0);
		assert_non_null(o->init);
		assert_non_null(o->dispatch);
		assert_ptr_equal(tl_dispatcher_find(o->conf.name), o);
	}
	assert_int_equal(i, 4);
}

static void test_unavailable_types(void **state)
{
	static const int types[] = {-1, 42}; /* every enum value is built in now */
	static struct tl_dispatcher dummy;
	struct tl_dispatcher_conf conf;
	struct tl_dispatcher *d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(&conf, 0, sizeof(conf));
		conf.name = (char *)"later";
		conf.type = types[i];
		conf.events = true;
		d = &dummy; /* must be reset */
		assert_int_equal(tl_dispatcher_create(&conf, &d), -ENOTSUP);
		assert_null(d);
	}
	assert_int_equal(fake.inits, 0);
}

/* ---------------------------------------------------------------- meter filters */

struct filter_case {
	const char *patterns[3];
	const char *meter;
	bool pass;
};

/*
 * Expected values computed with ceilometer's Source.is_supported (pipeline.py)
 * on Python 3.11's fnmatch: deny first, then allow, exclusions only let the
 * rest through; '*', '?', classes with '!', ranges, no escapes.
 */
static const struct filter_case filter_cases[] = {
	{{"*"}, "cpu", true},
	{{"cpu"}, "cpu", true},
	{{"cpu"}, "cpu_util", false},
	{{"cpu"}, "CPU", false},
	{{"disk.*"}, "disk.read.bytes", true},
	{{"disk.*"}, "disk.", true},
	{{"disk.*"}, "disk", false},
	{{"disk.*"}, "diskXread", false},
	{{"*", "!disk.*"}, "cpu", true},
	{{"*", "!disk.*"}, "disk.read", false},
	{{"!disk.*", "!cpu"}, "cpu", false},
	{{"!disk.*", "!cpu"}, "cpu_util", true},
	{{"!disk.*", "!cpu"}, "memory", true},
	{{"network.*.bytes"}, "network.incoming.bytes", true},
	{{"network.*.bytes"}, "network.incoming.packets", false},
	{{"cpu?"}, "cpu1", true},
	{{"cpu?"}, "cpu", false},
	{{"cpu?"}, "cpu\xc3\xa9", true},
	{{"cpu?"}, "cpu12", false},
	{{"disk.[rw]*"}, "disk.read", true},
	{{"disk.[rw]*"}, "disk.write", true},
	{{"disk.[rw]*"}, "disk.usage", false},
	{{"disk.[!rw]*"}, "disk.usage", true},
	{{"disk.[!rw]*"}, "disk.read", false},
	{{"[a-c]pu"}, "cpu", true},
	{{"[a-c]pu"}, "dpu", false},
	{{"[z-a]pu"}, "apu", false},
	{{"[z-a]pu"}, "zpu", false},
	{{"[!z-a]pu"}, "apu", true},
	{{"cpu["}, "cpu[", true},
	{{"cpu["}, "cpu", false},
	{{"[]]x"}, "]x", true},
	{{"[!]]x"}, "ax", true},
	{{"[!]]x"}, "]x", false},
	{{"a\\b"}, "a\\b", true},
	{{"a\\b"}, "ab", false},
	{{"[^a]x"}, "^x", true},
	{{"[^a]x"}, "ax", true},
	{{"[^a]x"}, "bx", false},
	{{"[a-]x"}, "-x", true},
	{{"[a-]x"}, "ax", true},
	{{"[a-]x"}, "bx", false},
	{{"*.*"}, "a.b", true},
	{{"*.*"}, "ab", false},
	{{"**a*"}, "bab", true},
	{{"prefix:*"}, "prefix:foo", true},
	{{"prefix:*"}, "prefix", false},
	{{"h[\xc3\xa9]llo"}, "h\xc3\xa9llo", true},
	{{"h[\xc3\xa0-\xc3\xaa]llo"}, "h\xc3\xa9llo", true},
	{{"!*"}, "cpu", false},
	{{NULL}, "x", true},
	{{"a*b*c"}, "aXbYbZc", true},
	{{"a*b*c"}, "aXbYbZ", false},
	{{"[!]"}, "[!]", true},
	{{"[!]"}, "a", false},
	{{"[a-c-e]"}, "-", true},
	{{"[a-c-e]"}, "d", false},
	{{"[a-c-e]"}, "e", true},
	{{"[--0]"}, "/", true},
	{{"x[.]y"}, "x.y", true},
	{{"x?y"}, "x\ny", true},
};

static void test_filter_matching(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		const struct filter_case *c = &filter_cases[i];
		struct tl_meter_filter f;
		struct tl_conf_strlist l;
		size_t n = 0;

		while (n < 3 && c->patterns[n])
			n++;
		l = list_of((char **)c->patterns, n);
		assert_int_equal(tl_meter_filter_init(&f, &l), 0);
		if (tl_meter_filter_match(&f, c->meter) != c->pass)
			fail_msg("case %zu: pattern '%s' meter '%s': expected %s", i,
				 c->patterns[0] ? c->patterns[0] : "(none)", c->meter,
				 c->pass ? "pass" : "filtered");
		tl_meter_filter_fini(&f);
	}
}

static void test_filter_compiled_shape(void **state)
{
	char **star = STRS("*"), **excl = STRS("*", "!disk.*", "!cpu"),
	     **incl = STRS("cpu", "disk.*");
	struct tl_conf_strlist l;
	struct tl_meter_filter f;

	(void)state;
	l = list_of(star, 1);
	assert_int_equal(tl_meter_filter_init(&f, &l), 0);
	assert_true(f.all);
	assert_true(f.exclude);
	assert_int_equal(f.n, 0);
	tl_meter_filter_fini(&f);

	l = list_of(excl, 3);
	assert_int_equal(tl_meter_filter_init(&f, &l), 0);
	assert_true(f.exclude);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.patterns[0], "disk.*");
	assert_string_equal(f.patterns[1], "cpu");
	tl_meter_filter_fini(&f);

	l = list_of(incl, 2);
	assert_int_equal(tl_meter_filter_init(&f, &l), 0);
	assert_false(f.exclude);
	assert_false(f.all);
	assert_int_equal(f.n, 2);
	tl_meter_filter_fini(&f);
	tl_meter_filter_fini(NULL);

	assert_int_equal(tl_meter_filter_init(&f, NULL), 0);
	assert_true(tl_meter_filter_match(&f, "anything"));
	tl_meter_filter_fini(&f);
}

static void test_filter_invalid(void **state)
{
	char **mixed = STRS("cpu", "!disk.*"), **incl_star = STRS("*", "cpu"), **empty = STRS(""),
	     **bang = STRS("!");
	struct {
		char **v;
		size_t n;
	} bad[] = {{mixed, 2}, {incl_star, 2}, {empty, 1}, {bang, 1}};
	struct tl_dispatcher_conf conf;
	struct tl_dispatcher *d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tl_conf_strlist l = list_of(bad[i].v, bad[i].n);
		struct tl_meter_filter f;

		assert_int_equal(tl_meter_filter_init(&f, &l), -EINVAL);
		assert_null(f.patterns);

		memset(&conf, 0, sizeof(conf));
		conf.name = (char *)"bad";
		conf.meters = l;
		d = NULL;
		assert_int_equal(tl_dispatcher_create_desc(&fake_desc, &conf, &d), -EINVAL);
		assert_null(d);
	}
	assert_int_equal(fake.inits, 0);
}

/* ---------------------------------------------------------------- wrappers */

static void test_create_destroy(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatcher *d;

	(void)state;
	d = make(&conf, NULL, 0, true);
	assert_ptr_equal(d->desc, &fake_desc);
	assert_ptr_equal(d->conf, &conf);
	assert_ptr_equal(d->ctx, &fake);
	assert_string_equal(d->prefix, "dispatcher:fake1");
	assert_int_equal(fake.inits, 1);
	tl_dispatcher_destroy(d);
	assert_int_equal(fake.finis, 1);
	assert_ptr_equal(fake.fini_ctx, &fake);
	tl_dispatcher_destroy(NULL);

	/* What init answers is what create answers, and nothing is left. */
	fake.init_rc = -EIO;
	d = NULL;
	assert_int_equal(tl_dispatcher_create_desc(&fake_desc, &conf, &d), -EIO);
	assert_null(d);
	assert_int_equal(fake.finis, 1);
}

static void test_filters_samples_and_events(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatch_batch b = full_batch();
	struct tl_buf why;
	struct tl_dispatcher *d = make(&conf, STRS("*", "!disk.*"), 2, false);

	(void)state;
	tl_buf_init(&why);
	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_OK);
	assert_int_equal(fake.calls, 1);
	assert_int_equal(fake.n_samples, 3);
	assert_string_equal(fake.seen[0], "cpu");
	assert_string_equal(fake.seen[1], "memory");
	assert_string_equal(fake.seen[2], "network.incoming.bytes");
	assert_int_equal(fake.n_events, 0);
	assert_int_equal(atomic_load(&d->stats.samples), 3);
	assert_int_equal(atomic_load(&d->stats.events), 0);
	assert_int_equal(atomic_load(&d->stats.filtered), 2 + 3);
	assert_int_equal(atomic_load(&d->stats.batches), 1);
	/* The caller's batch is left as it was. */
	assert_ptr_equal(b.samples, sample_p);
	assert_int_equal(b.n_samples, N_METERS);
	assert_string_equal(b.samples[1]->counter_name, "disk.read.bytes");
	tl_dispatcher_destroy(d);

	/* Included names, events on. */
	{
		d = make(&conf, STRS("disk.*", "memory"), 2, true);
		assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_OK);
		assert_int_equal(fake.n_samples, 3);
		assert_string_equal(fake.seen[0], "disk.read.bytes");
		assert_string_equal(fake.seen[1], "memory");
		assert_string_equal(fake.seen[2], "disk.write.bytes");
		assert_int_equal(fake.n_events, 3);
		assert_ptr_equal(fake.events, event_p);
		assert_int_equal(atomic_load(&d->stats.samples), 3);
		assert_int_equal(atomic_load(&d->stats.events), 3);
		assert_int_equal(atomic_load(&d->stats.filtered), 2);
		tl_dispatcher_destroy(d);
	}
	tl_buf_fini(&why);
}

static void test_nothing_filtered_passes_arrays(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatch_batch b = full_batch();
	struct tl_dispatcher *d = make(&conf, NULL, 0, true);

	(void)state;
	assert_int_equal(tl_dispatcher_dispatch(d, &b, NULL), TL_DISPATCH_OK);
	assert_ptr_equal(fake.samples, sample_p);
	assert_int_equal(fake.n_samples, N_METERS);
	assert_ptr_equal(fake.events, event_p);
	assert_int_equal(fake.n_events, 3);
	assert_int_equal(atomic_load(&d->stats.filtered), 0);
	tl_dispatcher_destroy(d);
}

static void test_empty_after_filtering(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatch_batch b = full_batch(), none = {NULL, 0, NULL, 0, NULL};
	struct tl_buf why;
	struct tl_dispatcher *d = make(&conf, STRS("image.*"), 1, false);

	(void)state;
	tl_buf_init(&why);
	tl_buf_puts(&why, "stale");
	fake.script[0] = TL_DISPATCH_RETRY;
	fake.n_script = 1;
	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_OK);
	assert_int_equal(fake.calls, 0);
	assert_int_equal(why.len, 0);
	assert_int_equal(atomic_load(&d->stats.batches), 0);
	assert_int_equal(atomic_load(&d->stats.filtered), N_METERS + 3);
	assert_int_equal(tl_dispatcher_dispatch(d, &none, &why), TL_DISPATCH_OK);
	assert_int_equal(fake.calls, 0);
	tl_dispatcher_destroy(d);
	tl_buf_fini(&why);
}

static void test_scripted_answers_and_counters(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatch_batch b = full_batch();
	struct tl_buf why;
	struct tl_dispatcher *d = make(&conf, STRS("!memory"), 1, true);

	(void)state;
	tl_buf_init(&why);
	fake.script[0] = TL_DISPATCH_RETRY;
	fake.script[1] = TL_DISPATCH_RETRY;
	fake.script[2] = TL_DISPATCH_OK;
	fake.script[3] = TL_DISPATCH_DROP;
	fake.script[4] = TL_DISPATCH_RETRY;
	fake.n_script = 5;
	fake.why = "connection refused";

	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_RETRY);
	assert_string_equal(why.data, "connection refused");
	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_RETRY);
	assert_string_equal(why.data, "connection refused"); /* reset between calls */
	/* Retries count neither records nor what the filter kept out. */
	assert_int_equal(atomic_load(&d->stats.retries), 2);
	assert_int_equal(atomic_load(&d->stats.samples), 0);
	assert_int_equal(atomic_load(&d->stats.filtered), 0);

	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_OK);
	assert_int_equal(why.len, 0);
	assert_int_equal(atomic_load(&d->stats.samples), 4);
	assert_int_equal(atomic_load(&d->stats.events), 3);
	assert_int_equal(atomic_load(&d->stats.filtered), 1);

	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_DROP);
	assert_string_equal(why.data, "connection refused");
	assert_int_equal(atomic_load(&d->stats.dropped), 4 + 3);
	assert_int_equal(atomic_load(&d->stats.filtered), 2);

	/* No reason given: the wrapper says so; a NULL why is accepted. */
	fake.why = NULL;
	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_RETRY);
	assert_string_equal(why.data, "no reason given");
	assert_int_equal(tl_dispatcher_dispatch(d, &b, NULL), TL_DISPATCH_OK);

	assert_int_equal(fake.calls, 6);
	assert_int_equal(atomic_load(&d->stats.batches), 6);
	assert_int_equal(atomic_load(&d->stats.retries), 3);
	assert_int_equal(atomic_load(&d->stats.samples), 8);
	assert_int_equal(atomic_load(&d->stats.events), 6);
	assert_int_equal(atomic_load(&d->stats.dropped), 7);
	assert_int_equal(atomic_load(&d->stats.filtered), 3);
	tl_dispatcher_destroy(d);
	tl_buf_fini(&why);
}

static void test_unknown_status_is_retry(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatch_batch b = full_batch();
	struct tl_buf why;
	struct tl_dispatcher *d = make(&conf, NULL, 0, true);

	(void)state;
	tl_buf_init(&why);
	fake.script[0] = (enum tl_dispatch_status)7;
	fake.n_script = 1;
	fake.why = "whatever";
	assert_int_equal(tl_dispatcher_dispatch(d, &b, &why), TL_DISPATCH_RETRY);
	assert_string_equal(why.data, "the dispatcher answered an unknown status");
	assert_int_equal(atomic_load(&d->stats.retries), 1);
	assert_int_equal(atomic_load(&d->stats.dropped), 0);
	tl_dispatcher_destroy(d);
	tl_buf_fini(&why);
}

static void test_flush_and_reopen(void **state)
{
	struct tl_dispatcher_conf conf;
	struct tl_dispatcher *d = make(&conf, NULL, 0, true);

	(void)state;
	assert_int_equal(tl_dispatcher_flush(d), 0);
	assert_int_equal(tl_dispatcher_reopen(d), 0);
	assert_int_equal(fake.flushes, 1);
	assert_int_equal(fake.reopens, 1);
	fake.flush_rc = -EIO;
	fake.reopen_rc = -ENOENT;
	assert_int_equal(tl_dispatcher_flush(d), -EIO);
	assert_int_equal(tl_dispatcher_reopen(d), -ENOENT);
	tl_dispatcher_destroy(d);

	/* Optional entries missing: no-ops answering 0, and no fini to call. */
	fake.finis = 0;
	d = NULL;
	assert_int_equal(tl_dispatcher_create_desc(&fake_min_desc, &conf, &d), 0);
	assert_int_equal(tl_dispatcher_flush(d), 0);
	assert_int_equal(tl_dispatcher_reopen(d), 0);
	assert_int_equal(fake.flushes, 2);
	assert_int_equal(fake.reopens, 2);
	tl_dispatcher_destroy(d);
	assert_int_equal(fake.finis, 0);
}

/* Scratch grows with the batch and is reused. */
static void test_large_batch_filtering(void **state)
{
	enum { N = 5000 };
	static struct tl_sample s[N];
	static const struct tl_sample *p[N];
	struct tl_dispatcher_conf conf;
	struct tl_dispatch_batch b = {p, N, NULL, 0, NULL};
	struct tl_dispatcher *d = make(&conf, STRS("*", "!drop.*"), 2, true);
	size_t i, round;

	(void)state;
	for (i = 0; i < N; i++) {
		s[i].counter_name = i % 3 == 0 ? "drop.me" : "keep.me";
		s[i].message_id = "x";
		p[i] = &s[i];
	}
	for (round = 1; round <= 2; round++) {
		b.n_samples = round == 1 ? 10 : N;
		assert_int_equal(tl_dispatcher_dispatch(d, &b, NULL), TL_DISPATCH_OK);
		assert_int_equal(fake.n_samples, b.n_samples - (b.n_samples + 2) / 3);
		for (i = 0; i < fake.n_samples; i++)
			assert_string_equal(fake.samples[i]->counter_name, "keep.me");
	}
	tl_dispatcher_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_registry, setup),
		cmocka_unit_test_setup(test_unavailable_types, setup),
		cmocka_unit_test_setup(test_filter_matching, setup),
		cmocka_unit_test_setup(test_filter_compiled_shape, setup),
		cmocka_unit_test_setup(test_filter_invalid, setup),
		cmocka_unit_test_setup(test_create_destroy, setup),
		cmocka_unit_test_setup(test_filters_samples_and_events, setup),
		cmocka_unit_test_setup(test_nothing_filtered_passes_arrays, setup),
		cmocka_unit_test_setup(test_empty_after_filtering, setup),
		cmocka_unit_test_setup(test_scripted_answers_and_counters, setup),
		cmocka_unit_test_setup(test_unknown_status_is_retry, setup),
		cmocka_unit_test_setup(test_flush_and_reopen, setup),
		cmocka_unit_test_setup(test_large_batch_filtering, setup),
	};

	/* The wrappers log errors on purpose here; keep the output for failures. */
	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "test_dispatcher");
	return cmocka_run_group_tests_name("dispatcher", tests, NULL, NULL);
}
