/*
 * test_blacklist.c — the blacklist rules (collector/blacklist.h): patterns,
 * refusals, the flat index (10,000 exact meters and 1,000 resource prefixes:
 * each sample is dropped by exactly the rule it should be), removal, expiry,
 * and persistence through a real buffer (ids never reused).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/blacklist.h"
#include "collector/buffer.h"
#include "common/time.h"
#include "tmpdir.h"

#define HOUR_US (3600LL * 1000000)

static struct tl_sample sample(const char *meter, const char *res, const char *project,
			       const char *source)
{
	struct tl_sample s;

	memset(&s, 0, sizeof(s));
	s.counter_name = meter;
	s.resource_id = res;
	s.project_id = project;
	s.source = source;
	return s;
}

/* A rule of up to two patterns per list (NULL: none), added; its id in id. */
static int add(struct tl_blacklist *bl, const char *meter, const char *res, const char *project,
	       const char *source, int64_t expires_us, char *id)
{
	const char *p[TL_BL_NFIELDS] = {meter, res, project, source};
	const char *one[TL_BL_NFIELDS][1];
	struct tl_blacklist_spec spec = {0};
	char tmp[TL_BLACKLIST_ID_MAX];
	struct tl_buf why;
	unsigned f;
	int rc;

	for (f = 0; f < TL_BL_NFIELDS; f++) {
		if (!p[f])
			continue;
		one[f][0] = p[f];
		spec.patterns[f] = one[f];
		spec.n[f] = 1;
	}
	spec.expires_us = expires_us;
	tl_buf_init(&why);
	rc = tl_blacklist_add(bl, &spec, "test", id ? id : tmp, &why);
	tl_buf_fini(&why);
	return rc;
}

/* Does bl drop s (at now_us)? */
static bool drops(struct tl_blacklist *bl, struct tl_sample s, int64_t now_us)
{
	size_t n = 1;

	return tl_blacklist_filter(bl, &s, &n, now_us) == 1 && n == 0;
}

static int hits_of(const struct tl_blacklist_view *v, void *ctx)
{
	*(uint64_t *)ctx = v->hits;
	return 0;
}

static uint64_t hits(struct tl_blacklist *bl, const char *id)
{
	uint64_t h = UINT64_MAX;

	assert_int_equal(tl_blacklist_get(bl, id, hits_of, &h), 0);
	return h;
}

static void test_patterns(void **state)
{
	struct tl_blacklist *bl;
	int64_t now = tl_time_now();
	char a[TL_BLACKLIST_ID_MAX], b[TL_BLACKLIST_ID_MAX];

	(void)state;
	assert_int_equal(tl_blacklist_create(NULL, &bl), 0);
	assert_false(drops(bl, sample("cpu", "r1", "p", "s"), now)); /* no rule */
	assert_int_equal(add(bl, "cpu", "inst-*", NULL, NULL, 0, a), 0);
	assert_string_equal(a, "bl-1");
	assert_true(drops(bl, sample("cpu", "inst-1", "p", "s"), now));
	assert_true(drops(bl, sample("cpu", "inst-", NULL, NULL), now)); /* empty rest */
	assert_false(drops(bl, sample("cpu", "ins", "p", "s"), now));	 /* shorter */
	assert_false(drops(bl, sample("cpu", "xinst-1", "p", "s"), now));
	assert_false(drops(bl, sample("cpu2", "inst-1", "p", "s"), now)); /* exact */
	assert_false(drops(bl, sample("cp", "inst-1", "p", "s"), now));
	assert_int_equal(hits(bl, a), 2);
	/* "*" in a list matches anything, an absent source included. */
	assert_int_equal(add(bl, "mem*", NULL, NULL, "*", 0, b), 0);
	assert_true(drops(bl, sample("memory", "r", "p", NULL), now));
	assert_true(drops(bl, sample("mem", "r", "p", "openstack"), now));
	assert_false(drops(bl, sample("me", "r", "p", "openstack"), now));
	assert_int_equal(hits(bl, b), 2);
	/* The filter keeps the others in order. */
	{
		struct tl_sample v[5] = {
			sample("disk", "1", NULL, NULL), sample("cpu", "inst-9", NULL, NULL),
			sample("net", "2", NULL, NULL), sample("memory.usage", "3", NULL, NULL),
			sample("cpu", "4", NULL, NULL)};
		size_t n = 5;

		assert_int_equal(tl_blacklist_filter(bl, v, &n, now), 2);
		assert_int_equal(n, 3);
		assert_string_equal(v[0].counter_name, "disk");
		assert_string_equal(v[1].counter_name, "net");
		assert_string_equal(v[2].resource_id, "4");
	}
	assert_int_equal(hits(bl, a), 3);
	assert_int_equal(hits(bl, b), 3);
	tl_blacklist_destroy(bl);
}

static void test_lists_and_everything(void **state)
{
	const char *meters[] = {"a", "b*", "c"}, *sources[] = {"*"}, *projects[] = {"p1", "p2"};
	struct tl_blacklist_spec spec = {0};
	struct tl_blacklist *bl;
	int64_t now = tl_time_now();
	char id[TL_BLACKLIST_ID_MAX], all[TL_BLACKLIST_ID_MAX];
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	assert_int_equal(tl_blacklist_create(NULL, &bl), 0);
	/* A list matches when any of its patterns does; every non-empty list must. */
	spec.patterns[TL_BL_METER] = meters;
	spec.n[TL_BL_METER] = 3;
	spec.patterns[TL_BL_PROJECT] = projects;
	spec.n[TL_BL_PROJECT] = 2;
	assert_int_equal(tl_blacklist_add(bl, &spec, "t", id, &why), 0);
	assert_true(drops(bl, sample("c", "r", "p2", NULL), now));
	assert_true(drops(bl, sample("bb", "r", "p1", NULL), now));
	assert_false(drops(bl, sample("c", "r", "p3", NULL), now));
	assert_false(drops(bl, sample("d", "r", "p1", NULL), now));
	assert_int_equal(hits(bl, id), 2);
	/* A rule whose only list is "*": the "everything" list. */
	memset(&spec, 0, sizeof(spec));
	spec.patterns[TL_BL_SOURCE] = sources;
	spec.n[TL_BL_SOURCE] = 1;
	assert_int_equal(tl_blacklist_add(bl, &spec, "t", all, &why), 0);
	assert_true(drops(bl, sample("zzz", "r", NULL, NULL), now));
	assert_int_equal(hits(bl, all), 1);
	assert_int_equal(tl_blacklist_remove(bl, all, "t"), 0);
	assert_false(drops(bl, sample("zzz", "r", NULL, NULL), now));
	assert_int_equal(tl_blacklist_remove(bl, all, "t"), -ENOENT);
	tl_blacklist_destroy(bl);
	tl_buf_fini(&why);
}

static void test_refusals(void **state)
{
	static const char *many[TL_BLACKLIST_MAX_PATTERNS + 1];
	struct tl_blacklist_spec spec = {0};
	struct tl_blacklist *bl;
	char longp[TL_BLACKLIST_PATTERN_MAX + 2];
	struct tl_buf why;
	size_t i;

	(void)state;
	tl_buf_init(&why);
	assert_int_equal(tl_blacklist_create(NULL, &bl), 0);
	/* Four empty lists: it would drop everything. */
	assert_int_equal(tl_blacklist_add(bl, &spec, "t", longp, &why), -EINVAL);
	assert_non_null(strstr(why.data, "drop every sample"));
	assert_int_equal(add(bl, "a*b", NULL, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(add(bl, "*a", NULL, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(add(bl, "", NULL, NULL, NULL, 0, NULL), -EINVAL);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(add(bl, longp, NULL, NULL, NULL, 0, NULL), -EINVAL); /* 256 bytes */
	longp[TL_BLACKLIST_PATTERN_MAX] = '\0';
	assert_int_equal(add(bl, NULL, longp, NULL, NULL, 0, NULL), 0); /* 255 */
	assert_int_equal(add(bl, "x", NULL, NULL, NULL, tl_time_now() - 1, NULL), -EINVAL);
	for (i = 0; i < TL_BLACKLIST_MAX_PATTERNS + 1; i++)
		many[i] = "m";
	spec.patterns[TL_BL_METER] = many;
	spec.n[TL_BL_METER] = TL_BLACKLIST_MAX_PATTERNS + 1;
	tl_buf_reset(&why);
	assert_int_equal(tl_blacklist_add(bl, &spec, "t", longp, &why), -EINVAL);
	assert_int_equal(tl_blacklist_count(bl), 1); /* only the good one */
	tl_blacklist_destroy(bl);
	tl_buf_fini(&why);
}

/*
 * The flat index: 10,000 rules of one exact meter each, 1,000 of one resource
 * prefix each (lengths 3 to 6), 500 sharing the meter "cpu" with one exact
 * resource each. Every sample is dropped by exactly its rule (the hit counts
 * say which); a sample of none of them is kept.
 */
static void test_flat_index(void **state)
{
	static char meters[10000][16], prefixes[1000][16], resources[500][16];
	struct tl_blacklist *bl;
	int64_t now = tl_time_now();
	char id[TL_BLACKLIST_ID_MAX], name[32];
	size_t i;

	(void)state;
	assert_int_equal(tl_blacklist_create(NULL, &bl), 0);
	for (i = 0; i < 10000; i++) {
		snprintf(meters[i], sizeof(meters[i]), "meter.%zu", i);
		assert_int_equal(add(bl, meters[i], NULL, NULL, NULL, 0, NULL), 0);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(prefixes[i], sizeof(prefixes[i]), "%.*s%zu-*", (int)(i % 4), "zzz", i);
		assert_int_equal(add(bl, NULL, prefixes[i], NULL, NULL, 0, NULL), 0);
	}
	for (i = 0; i < 500; i++) {
		snprintf(resources[i], sizeof(resources[i]), "vm-%zu", i);
		assert_int_equal(add(bl, "cpu", resources[i], NULL, NULL, 0, NULL), 0);
	}
	assert_int_equal(tl_blacklist_count(bl), 11500);
	for (i = 0; i < 10000; i += 7)
		assert_true(drops(bl, sample(meters[i], "other", "p", "s"), now));
	for (i = 0; i < 1000; i += 3) {
		char res[32];

		snprintf(res, sizeof(res), "%.*sinstance", (int)strlen(prefixes[i]) - 1,
			 prefixes[i]);
		assert_true(drops(bl, sample("m", res, "p", "s"), now));
	}
	for (i = 0; i < 500; i += 5)
		assert_true(drops(bl, sample("cpu", resources[i], "p", "s"), now));
	assert_false(drops(bl, sample("cpu", "vm-500", "p", "s"), now));
	assert_false(drops(bl, sample("meter.10000", "vm", "p", "s"), now));
	assert_false(drops(bl, sample("nomatch", "1-x", "p", "s"), now)); /* no rule "1-*" */
	for (i = 0; i < 11500; i++) {
		uint64_t want = i < 10000   ? (i % 7 == 0)
				: i < 11000 ? ((i - 10000) % 3 == 0)
					    : ((i - 11000) % 5 == 0);

		snprintf(id, sizeof(id), "bl-%zu", i + 1);
		snprintf(name, sizeof(name), "rule %zu", i + 1);
		if (hits(bl, id) != want)
			fail_msg("%s: %llu hits, want %llu", name, (unsigned long long)hits(bl, id),
				 (unsigned long long)want);
	}
	tl_blacklist_destroy(bl);
}

static void test_expiry(void **state)
{
	struct tl_blacklist *bl;
	int64_t now = tl_time_now();
	char a[TL_BLACKLIST_ID_MAX], b[TL_BLACKLIST_ID_MAX];

	(void)state;
	assert_int_equal(tl_blacklist_create(NULL, &bl), 0);
	assert_int_equal(add(bl, "cpu", NULL, NULL, NULL, now + HOUR_US, a), 0);
	assert_int_equal(add(bl, "mem", NULL, NULL, NULL, now + 2 * HOUR_US, b), 0);
	assert_true(drops(bl, sample("cpu", "r", "p", "s"), now));
	/* Expired: it stops matching at once, before it is removed. */
	assert_false(drops(bl, sample("cpu", "r", "p", "s"), now + HOUR_US));
	assert_true(drops(bl, sample("mem", "r", "p", "s"), now + HOUR_US));
	assert_int_equal(tl_blacklist_expire(bl, now + HOUR_US - 1), 0);
	assert_int_equal(tl_blacklist_expire(bl, now + HOUR_US), 1);
	assert_int_equal(tl_blacklist_count(bl), 1);
	assert_int_equal(tl_blacklist_remove(bl, a, "t"), -ENOENT);
	assert_int_equal(tl_blacklist_expire(bl, now + 3 * HOUR_US), 1);
	assert_int_equal(tl_blacklist_count(bl), 0);
	tl_blacklist_destroy(bl);
}

struct collected {
	char text[4096];
};

static int collect(const struct tl_blacklist_view *v, void *ctx)
{
	struct collected *c = ctx;
	size_t len = strlen(c->text);
	unsigned f;
	size_t i;

	len += (size_t)snprintf(c->text + len, sizeof(c->text) - len, "%s:", v->id);
	for (f = 0; f < TL_BL_NFIELDS; f++)
		for (i = 0; i < v->n[f]; i++)
			len += (size_t)snprintf(c->text + len, sizeof(c->text) - len, " %s=%s",
						tl_blacklist_field_name(f), v->patterns[f][i]);
	snprintf(c->text + len, sizeof(c->text) - len, " exp=%d who=%s;", v->expires_us != 0,
		 v->who);
	return 0;
}

static struct tl_buffer *open_buffer(const char *dir)
{
	struct tl_buffer_opts o = {.path = dir, .max_size = 1 << 20};
	struct tl_buffer *b;

	assert_int_equal(tl_buffer_open(&o, &b), 0);
	return b;
}

static void test_persistence(void **state)
{
	struct tl_blacklist *bl;
	struct tl_buffer *b;
	struct collected c1 = {{0}}, c2 = {{0}};
	char dir[256], path[300], id[TL_BLACKLIST_ID_MAX];
	int64_t now = tl_time_now();
	uint64_t h;
	size_t i;

	(void)state;
	assert_int_equal(tl_test_mkdtemp(dir, sizeof(dir), "tally-test-blacklist"), 0);
	snprintf(path, sizeof(path), "%s/buffer", dir);
	b = open_buffer(path);
	assert_int_equal(tl_blacklist_create(b, &bl), 0);
	for (i = 0; i < 11; i++) /* bl-1 .. bl-11: "bl-10" sorts before "bl-2" as a key */
		assert_int_equal(add(bl, "m\"q", "r*", NULL, "s", 0, NULL), 0);
	assert_int_equal(add(bl, "cpu", NULL, "p", NULL, now + HOUR_US, id), 0);
	assert_string_equal(id, "bl-12");
	assert_int_equal(add(bl, "gone", NULL, NULL, NULL, 0, id), 0);
	assert_int_equal(tl_blacklist_remove(bl, "bl-13", "t"), 0);
	assert_int_equal(tl_blacklist_remove(bl, "bl-3", "t"), 0);
	tl_blacklist_each(bl, collect, &c1);
	tl_blacklist_destroy(bl);
	tl_buffer_close(b);

	b = open_buffer(path);
	assert_int_equal(tl_blacklist_create(b, &bl), 0);
	assert_int_equal(tl_blacklist_count(bl), 11);
	tl_blacklist_each(bl, collect, &c2);
	assert_string_equal(c1.text, c2.text); /* same rules, same order */
	assert_true(drops(bl, sample("cpu", "x", "p", "s"), now));
	assert_true(drops(bl, sample("m\"q", "rr", "p", "s"), now));
	assert_false(drops(bl, sample("gone", "x", "p", "s"), now));
	/* The next id follows the highest ever given, removed ones included. */
	assert_int_equal(add(bl, "new", NULL, NULL, NULL, 0, id), 0);
	assert_string_equal(id, "bl-14");
	/* Expiry deletes from the state too. */
	assert_int_equal(tl_blacklist_expire(bl, now + HOUR_US), 1);
	tl_blacklist_destroy(bl);
	tl_buffer_close(b);

	b = open_buffer(path);
	assert_int_equal(tl_blacklist_create(b, &bl), 0);
	assert_int_equal(tl_blacklist_count(bl), 11);
	assert_int_equal(tl_blacklist_get(bl, "bl-12", hits_of, &h), -ENOENT);
	assert_int_equal(tl_blacklist_get(bl, "bl-14", hits_of, &h), 0);
	tl_blacklist_destroy(bl);
	tl_buffer_close(b);
	tl_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns), cmocka_unit_test(test_lists_and_everything),
		cmocka_unit_test(test_refusals), cmocka_unit_test(test_flat_index),
		cmocka_unit_test(test_expiry),	 cmocka_unit_test(test_persistence),
	};

	return cmocka_run_group_tests_name("blacklist", tests, NULL, NULL);
}
