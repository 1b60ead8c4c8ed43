/*
 * test_stage_state.c — the pipeline stage's state piece by piece in a real
 * buffer's side state (collector/stage_state.h): what a batch changed is
 * all a commit writes (one series → one entry; an unchanged whole state →
 * nothing), what is stored comes back into a fresh set (the next sample
 * of every series gets its rate; the seen ids still drop a redelivery),
 * and a state of another pipeline file, of the first version or damaged is
 * not restored and goes at the next commit.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/buffer.h"
#include "collector/stage_state.h"
#include "common/log.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_conf.h"
#include "tests/unit/tmpdir.h"

static const char PIPELINE[] = "sources:\n"
			       "  - {name: cpu_source, meters: [cpu], sinks: [cpu_sink]}\n"
			       "  - {name: mem_source, meters: [mem], sinks: [mem_sink]}\n"
			       "sinks:\n"
			       "  - name: cpu_sink\n"
			       "    transformers:\n"
			       "      - name: rate_of_change\n"
			       "        parameters:\n"
			       "          target: {name: cpu_util, unit: '%', type: gauge}\n"
			       "    publishers: [notifier://]\n"
			       "  - name: mem_sink\n"
			       "    transformers:\n"
			       "      - name: aggregator\n"
			       "        parameters: {size: 1000, retention_time: 600}\n"
			       "    publishers: [notifier://]\n";

/* The same sinks in another order: another shape. */
static const char OTHER[] = "sources:\n"
			    "  - {name: mem_source, meters: [mem], sinks: [mem_sink]}\n"
			    "sinks:\n"
			    "  - name: mem_sink\n"
			    "    transformers:\n"
			    "      - name: aggregator\n"
			    "        parameters: {size: 1000, retention_time: 600}\n"
			    "    publishers: [notifier://]\n";

#define SERIES 300

struct fx {
	char dir[512], buf[600];
	struct tl_buffer *b;
	struct tl_pipeline_conf conf, other;
	struct tl_stage_store *st;
	struct tl_stage_seen seen;
	char names[SERIES][16];
	size_t published;
	double last_volume;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct tl_conf_errors errs;

	if (!f || tl_test_mkdtemp(f->dir, sizeof(f->dir), "tally-test-stage-state") < 0)
		return -1;
	snprintf(f->buf, sizeof(f->buf), "%s/buf", f->dir);
	struct tl_buffer_opts o = {.path = f->buf, .max_size = 64 << 20};
	assert_int_equal(tl_buffer_open(&o, &f->b), 0);
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_conf_load_string("p.yaml", PIPELINE, false, &f->conf, &errs),
			 0);
	assert_int_equal(tl_pipeline_conf_load_string("o.yaml", OTHER, false, &f->other, &errs), 0);
	tl_conf_errors_fini(&errs);
	assert_int_equal(tl_stage_store_create(f->b, &f->st), 0);
	for (size_t i = 0; i < SERIES; i++)
		snprintf(f->names[i], sizeof(f->names[i]), "vm-%zu", i);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tl_stage_store_destroy(f->st);
	tl_pipeline_conf_fini(&f->conf);
	tl_pipeline_conf_fini(&f->other);
	tl_buffer_close(f->b);
	tl_test_rmtree(f->dir);
	free(f);
	return 0;
}

static struct tl_pipeline_set *new_set(const struct tl_pipeline_conf *c)
{
	struct tl_pipeline_set *set = NULL;
	struct tl_conf_errors errs;

	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_set_create(c, &set, &errs), 0);
	tl_conf_errors_fini(&errs);
	return set;
}

static int count(void *ctx, size_t p, enum tl_pipeline_phase phase, const struct tl_sample *s)
{
	struct fx *f = ctx;

	(void)p;
	(void)phase;
	f->published++;
	f->last_volume = s->volume;
	return 0;
}

/* One cpu sample of resource r at poll k (cumulative, +1e9 ns per 10 s); a mem one for r < 3. */
static void run(struct fx *f, struct tl_pipeline_set *set, size_t from, size_t to, int k)
{
	struct tl_sample smp[2 * SERIES];
	const struct tl_sample *sp[2 * SERIES];
	size_t n = 0;

	for (size_t r = from; r < to; r++)
		for (int m = 0; m < (r < 3 ? 2 : 1); m++) {
			smp[n] = (struct tl_sample){
				.counter_name = m ? "mem" : "cpu",
				.counter_unit = m ? "MB" : "ns",
				.resource_id = f->names[r],
				.message_id = "",
				.message_signature = "",
				.counter_type = m ? TL_COUNTER_GAUGE : TL_COUNTER_CUMULATIVE,
				.volume_is_int = true,
				.volume_int = m ? 512 : (int64_t)k * 1000000000,
				.volume = m ? 512.0 : (double)k * 1e9,
				.timestamp = (1456833600LL + 10 * k) * 1000000LL,
			};
			sp[n] = &smp[n];
			n++;
		}
	f->published = 0;
	assert_int_equal(tl_pipeline_set_batch(set, sp, n, 0, count, f), 0);
}

/* Stores what changed; the number of pairs. */
static size_t commit(struct fx *f, struct tl_pipeline_set *set)
{
	const struct tl_buffer_kv *kv;
	size_t n;

	assert_int_equal(tl_stage_store_pairs(f->st, set, &f->seen, &kv, &n), 0);
	if (n)
		assert_int_equal(tl_buffer_state_put(f->b, kv, n), 0);
	tl_stage_store_committed(f->st);
	f->seen.dirty = 0;
	return n;
}

static int count_keys(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t stored(struct fx *f, const char *prefix)
{
	size_t n = 0;

	assert_int_equal(tl_buffer_state_each(f->b, prefix, strlen(prefix), count_keys, &n), 0);
	return n;
}

static void test_changes_only_and_back(void **state)
{
	struct fx *f = *state;
	struct tl_pipeline_set *set = new_set(&f->conf), *again;
	size_t bytes, n;

	/* Nothing stored yet: a fresh start that is not an error. */
	assert_int_equal(tl_stage_store_load(f->st, set, &f->seen, &bytes), 0);
	run(f, set, 0, SERIES, 1);
	assert_true(tl_stage_seen_add(&f->seen, 42));
	n = commit(f, set);
	/* shape, every series, the aggregator's whole state (header + chunk), seen + a chunk */
	assert_int_equal(n, 1 + SERIES + 2 + 2);
	assert_int_equal(stored(f, "pipeline/e/"), SERIES);
	/* Nothing changed: nothing to write. */
	assert_int_equal(commit(f, set), 0);
	/* One series moves: its entry alone (the aggregator holds the same). */
	run(f, set, 7, 8, 2);
	assert_int_equal(commit(f, set), 1);
	/* A mem sample: the aggregator's whole state again (header, chunk), no entry. */
	run(f, set, 1, 2, 2);
	assert_int_equal(commit(f, set), 1 + 2);

	/* Back in a fresh set: every series has its predecessor. */
	again = new_set(&f->conf);
	memset(&f->seen, 0, sizeof(f->seen));
	assert_int_equal(tl_stage_store_load(f->st, again, &f->seen, &bytes), 0);
	assert_true(bytes > 0);
	assert_false(tl_stage_seen_add(&f->seen, 42)); /* seen before the restart */
	run(f, again, 0, SERIES, 3);
	assert_int_equal(f->published, SERIES); /* a rate for each series, none dropped */
	/* Restored is not changed: nothing but what the run changed is written. */
	n = commit(f, again);
	assert_int_equal(n, SERIES + 2);
	tl_pipeline_set_destroy(again);
	tl_pipeline_set_destroy(set);
}

static void test_other_shape_starts_fresh(void **state)
{
	struct fx *f = *state;
	struct tl_pipeline_set *set = new_set(&f->conf), *other;
	size_t bytes;

	assert_int_equal(tl_stage_store_load(f->st, set, &f->seen, &bytes), 0);
	run(f, set, 0, 10, 1);
	commit(f, set);
	assert_int_equal(stored(f, "pipeline/e/"), 10);
	/* Another file: not restored, and what is stored goes at the next commit. */
	other = new_set(&f->other);
	assert_int_equal(tl_stage_store_load(f->st, other, &f->seen, &bytes), -ESTALE);
	tl_pipeline_set_destroy(other);
	other = new_set(&f->other);
	commit(f, other);
	assert_int_equal(stored(f, "pipeline/e/"), 0);
	assert_int_equal(stored(f, "pipeline/shape"), 1);
	assert_int_equal(tl_stage_store_load(f->st, other, &f->seen, &bytes), 0);
	tl_pipeline_set_destroy(other);
	tl_pipeline_set_destroy(set);
}

static void test_first_version_and_damage(void **state)
{
	struct fx *f = *state;
	struct tl_pipeline_set *set = new_set(&f->conf);
	struct tl_buffer_kv old = {"pipeline/state", 14, "x", 1};
	size_t bytes;

	/* The blob of the first version. */
	assert_int_equal(tl_buffer_state_put(f->b, &old, 1), 0);
	assert_int_equal(tl_stage_store_load(f->st, set, &f->seen, &bytes), -EPROTO);
	tl_pipeline_set_destroy(set);
	set = new_set(&f->conf);
	run(f, set, 0, 5, 1);
	commit(f, set);
	assert_int_equal(stored(f, "pipeline/state"), 0);
	assert_int_equal(stored(f, "pipeline/e/"), 5);
	/* A stored blob the shape check passes but the transformer cannot read. */
	struct tl_buffer_kv bad = {"pipeline/e/0/0/xyz", 18, "\x01\x02", 2};
	assert_int_equal(tl_buffer_state_put(f->b, &bad, 1), 0);
	tl_pipeline_set_destroy(set);
	set = new_set(&f->conf);
	assert_int_equal(tl_stage_store_load(f->st, set, &f->seen, &bytes), -EBADMSG);
	tl_pipeline_set_destroy(set);
	/* An entry of a transformer that has none, a key of no version. */
	set = new_set(&f->conf);
	commit(f, set); /* the damaged keys go */
	assert_int_equal(stored(f, "pipeline/e/"), 0);
	struct tl_buffer_kv stray = {"pipeline/e/9/0/k", 16, "v", 1};
	assert_int_equal(tl_buffer_state_put(f->b, &stray, 1), 0);
	tl_pipeline_set_destroy(set);
	set = new_set(&f->conf);
	assert_int_equal(tl_stage_store_load(f->st, set, &f->seen, &bytes), -EBADMSG);
	tl_pipeline_set_destroy(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_changes_only_and_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_shape_starts_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_version_and_damage, setup, teardown),
	};

	tl_log_setup(TL_LOG_ERR, TL_LOG_STDERR, "test_stage_state");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
