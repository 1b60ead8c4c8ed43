/*
 * mongo_wire URL [--ttl METERING,EVENT] STEP... — drives the MongoDB storage
 * driver through the storage interface, one step after another on one
 * connection, for tests/integration/mongodb_wire.sh (a mock server checks
 * what goes over the wire). Prints one line per step (and per attempt of a
 * write) that the test reads back. Steps:
 *   dbsync               tl_storage_dbsync, its report lines prefixed "dbsync: "
 *   schema               tl_storage_check_schema
 *   samples=FILE         each line of FILE (a JSON list of sample dicts) is
 *                        one batch; -EAGAIN is retried up to 5 times
 *   events=FILE          the same with event dicts
 *   q-samples            a simple filter with a metadata equality and a key
 *                        that tries to name an operator
 *   q-complex            a complex query with =~, not and in, ordered
 *   q-stats              statistics with a period, groupby and stddev
 *   q-meters             GET /v2/meters (unique) and q-resources
 *   q-events             events with trait filters and admin scoping, then
 *                        the event types, trait types and traits of one type
 *   expire=SECONDS       tl_storage_expire_samples at now - SECONDS
 * Exit 0 when every step ran (whatever it returned), 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/decode.h"
#include "common/time.h"
#include "storage/storage.h"

static const char *reason(const struct tl_buf *why, int rc)
{
	return why->len ? why->data : rc < 0 ? strerror(-rc) : "";
}

static int write_file(struct tl_storage *s, const char *path, bool events)
{
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;
	struct tl_decoder dec;
	struct tl_decoded res;
	char *line = NULL;
	size_t cap = 0, i;
	ssize_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		return -1;
	}
	tl_decoder_init(&dec, &lim, NULL);
	tl_decoded_init(&res);
	while ((n = getline(&line, &cap, f)) > 1) {
		size_t count;
		const void **v;
		uint8_t *flags;
		int attempt, rc = 0;

		if (tl_decode_json(&dec, line, (size_t)n, &res) < 0) {
			printf("%s: not decoded\n", events ? "events" : "samples");
			continue;
		}
		count = events ? res.n_events : res.n_samples;
		v = calloc(count + 1, sizeof(*v));
		flags = calloc(count + 1, 1);
		for (i = 0; v && i < count; i++)
			v[i] = events ? (const void *)&res.events[i]
				      : (const void *)&res.samples[i];
		for (attempt = 0; v && flags && attempt < 6; attempt++) {
			struct tl_store_report rep = {0};
			struct tl_buf why;

			tl_buf_init(&why);
			memset(flags, 0, count + 1);
			rep.refused = flags;
			rep.why = &why;
			rc = events ? tl_storage_record_events(s, (const struct tl_event *const *)v,
							       count, &rep)
				    : tl_storage_record_samples(
					      s, (const struct tl_sample *const *)v, count, &rep);
			printf("%s: rc=%d stored=%zu dups=%zu refused=%zu",
			       events ? "events" : "samples", rc, rep.stored, rep.duplicates,
			       rep.n_refused);
			for (i = 0; i < count; i++)
				if (flags[i])
					printf(" refused[%zu]", i);
			printf(" why=%s\n", reason(&why, rc));
			tl_buf_fini(&why);
			if (rc != -EAGAIN)
				break;
			usleep(100000);
		}
		free(v);
		free(flags);
	}
	free(line);
	fclose(f);
	tl_decoded_fini(&res);
	tl_decoder_fini(&dec);
	return 0;
}

static void print_samples(struct tl_storage_cursor *c, const char *step)
{
	struct tl_stored_sample row;
	struct tl_buf why;
	int rc;

	tl_buf_init(&why);
	while ((rc = tl_storage_cursor_next(c, &row, &why)) == 1)
		printf("%s: row %s %s %g %" PRId64 " %s %.*s\n", step, row.message_id,
		       row.resource_id, row.volume, row.timestamp,
		       row.user_id ? row.user_id : "None", (int)row.metadata_len, row.metadata);
	printf("%s: end rc=%d why=%s\n", step, rc, reason(&why, rc));
	tl_buf_fini(&why);
}

static void q_samples(struct tl_storage *s)
{
	struct tl_meta_match meta[] = {
		{.key = "flavor.name", .value = {.type = TL_VALUE_STRING, .s = "m1.tiny"}},
		{.key = "$where", .value = {.type = TL_VALUE_STRING, .s = "{\"$ne\": 1}"}},
		{.key = "disk", .value = {.type = TL_VALUE_INT, .i = 512}},
	};
	struct tl_sample_query q = {
		.filter = {.meter = "cpu",
			   .user_id = "None",
			   .has_start = true,
			   .start_inclusive = true,
			   .start = 1700000000000000LL,
			   .has_end = true,
			   .end = 1700000600000000LL,
			   .meta = meta,
			   .n_meta = 3},
		.limit = 10,
	};
	struct tl_storage_cursor *c = NULL;
	struct tl_buf why;
	int rc;

	tl_buf_init(&why);
	rc = tl_storage_query_samples(s, &q, &c, &why);
	if (rc < 0)
		printf("q-samples: rc=%d why=%s\n", rc, reason(&why, rc));
	else
		print_samples(c, "q-samples");
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

static void q_complex(struct tl_storage *s)
{
	struct tl_value in[] = {{.type = TL_VALUE_STRING, .s = "p1"},
				{.type = TL_VALUE_STRING, .s = "$ne"}};
	struct tl_qnode name = {.kind = TL_QNODE_CMP,
				.field = TL_QF_COUNTER_NAME,
				.op = TL_QOP_EQ,
				.value = {.type = TL_VALUE_STRING, .s = "cpu"}};
	struct tl_qnode re = {.kind = TL_QNODE_CMP,
			      .field = TL_QF_RESOURCE_ID,
			      .op = TL_QOP_REGEX,
			      .value = {.type = TL_VALUE_STRING, .s = "^inst-[0-9]+$"}};
	struct tl_qnode isin = {
		.kind = TL_QNODE_IN, .field = TL_QF_PROJECT_ID, .values = in, .n_values = 2};
	const struct tl_qnode *notk[] = {&isin};
	struct tl_qnode not = {.kind = TL_QNODE_NOT, .children = notk, .n_children = 1};
	const struct tl_qnode *andk[] = {&name, &re, &not };
	struct tl_qnode and = {.kind = TL_QNODE_AND, .children = andk, .n_children = 3};
	struct tl_qorder order[] = {{.field = TL_QF_COUNTER_VOLUME, .desc = true}};
	struct tl_complex_query q = {
		.filter = &and, .order = order, .n_order = 1, .project_scope = "p9", .limit = 5};
	struct tl_storage_cursor *c = NULL;
	struct tl_buf why;
	int rc;

	tl_buf_init(&why);
	rc = tl_storage_query_complex(s, &q, &c, &why);
	if (rc < 0)
		printf("q-complex: rc=%d why=%s\n", rc, reason(&why, rc));
	else
		print_samples(c, "q-complex");
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

static void q_stats(struct tl_storage *s)
{
	struct tl_stats_query q = {
		.filter = {.meter = "cpu",
			   .has_start = true,
			   .start_inclusive = true,
			   .start = 1700000000000000LL},
		.period = 60,
		.groupby = TL_GROUPBY_RESOURCE,
		.aggregates = TL_AGG_STANDARD | TL_AGG_STDDEV | TL_AGG_CARD_USER,
	};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_stats row;
	struct tl_buf why;
	int rc;

	tl_buf_init(&why);
	rc = tl_storage_statistics(s, &q, &c, &why);
	if (rc < 0) {
		printf("q-stats: rc=%d why=%s\n", rc, reason(&why, rc));
	} else {
		while ((rc = tl_storage_cursor_next(c, &row, &why)) == 1)
			printf("q-stats: row %s %s count=%" PRId64
			       " avg=%g stddev=%g users=%" PRId64 " start=%" PRId64 " end=%" PRId64
			       "\n",
			       row.unit, row.resource_id ? row.resource_id : "-", row.count,
			       row.avg, row.stddev, row.card_user, row.period_start,
			       row.period_end);
		printf("q-stats: end rc=%d why=%s\n", rc, reason(&why, rc));
	}
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

static void q_meters_resources(struct tl_storage *s)
{
	struct tl_meter_query mq = {.filter = {.meter = "cpu"}, .unique = false, .limit = 10};
	struct tl_resource_query rq = {.filter = {.project_id = "p1"}, .limit = 10};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_meter m;
	struct tl_stored_resource r;
	struct tl_buf why;
	size_t i;
	int rc;

	tl_buf_init(&why);
	rc = tl_storage_query_meters(s, &mq, &c, &why);
	for (; rc == 0 && (rc = tl_storage_cursor_next(c, &m, &why)) == 1; rc = 0)
		printf("q-meters: row %s %d %s %s %s\n", m.name, (int)m.type, m.unit,
		       m.resource_id ? m.resource_id : "-", m.project_id ? m.project_id : "None");
	printf("q-meters: end rc=%d why=%s\n", rc, reason(&why, rc));
	tl_storage_cursor_close(c);
	c = NULL;
	tl_buf_reset(&why);
	rc = tl_storage_query_resources(s, &rq, &c, &why);
	for (; rc == 0 && (rc = tl_storage_cursor_next(c, &r, &why)) == 1; rc = 0) {
		printf("q-resources: row %s %" PRId64 " %" PRId64 " %.*s", r.resource_id,
		       r.first_sample_timestamp, r.last_sample_timestamp, (int)r.metadata_len,
		       r.metadata);
		for (i = 0; i < r.n_meters; i++)
			printf(" %s", r.meters[i]);
		printf("\n");
	}
	printf("q-resources: end rc=%d why=%s\n", rc, reason(&why, rc));
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

static void q_events(struct tl_storage *s)
{
	struct tl_trait_filter tf[] = {
		{.name = "vcpus", .op = TL_QOP_GE, .value = {.type = TL_VALUE_INT, .i = 2}},
	};
	struct tl_event_query q = {
		.event_type = "compute.instance.create.end",
		.traits = tf,
		.n_traits = 1,
		.admin_project = "p1",
		.limit = 10,
	};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_event e;
	struct tl_stored_trait t;
	const char *name;
	struct tl_buf why;
	size_t i;
	int rc;

	tl_buf_init(&why);
	rc = tl_storage_query_events(s, &q, &c, &why);
	for (; rc == 0 && (rc = tl_storage_cursor_next(c, &e, &why)) == 1; rc = 0) {
		printf("q-events: row %s %s %" PRId64 " %.*s", e.message_id, e.event_type,
		       e.generated, (int)e.raw_len, e.raw);
		for (i = 0; i < e.n_traits; i++)
			printf(" %s:%d:%s", e.traits[i].name, (int)e.traits[i].type,
			       e.traits[i].text);
		printf("\n");
	}
	printf("q-events: end rc=%d why=%s\n", rc, reason(&why, rc));
	tl_storage_cursor_close(c);
	c = NULL;
	rc = tl_storage_event_types(s, &c, &why);
	for (; rc == 0 && (rc = tl_storage_cursor_next(c, &name, &why)) == 1; rc = 0)
		printf("q-types: %s\n", name);
	tl_storage_cursor_close(c);
	c = NULL;
	rc = tl_storage_trait_types(s, "compute.instance.create.end", &c, &why);
	for (; rc == 0 && (rc = tl_storage_cursor_next(c, &t, &why)) == 1; rc = 0)
		printf("q-trait-types: %s %d\n", t.name, (int)t.type);
	tl_storage_cursor_close(c);
	c = NULL;
	rc = tl_storage_traits(s, "compute.instance.create.end", "launched_at", &c, &why);
	for (; rc == 0 && (rc = tl_storage_cursor_next(c, &t, &why)) == 1; rc = 0)
		printf("q-traits: %s %d %s\n", t.name, (int)t.type, t.text);
	printf("q-traits: end rc=%d why=%s\n", rc, reason(&why, rc));
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

int main(int argc, char **argv)
{
	struct tl_storage_options opt;
	struct tl_storage *s = NULL;
	struct tl_buf why, report;
	int i = 2, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: mongo_wire URL [--ttl M,E] STEP...\n");
		return 2;
	}
	/* Line by line: what ran before a crash is in the output. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	tl_storage_options_init(&opt);
	if (strcmp(argv[2], "--ttl") == 0 && argc > 4) {
		long long m, e;

		if (sscanf(argv[3], "%lld,%lld", &m, &e) != 2)
			return 2;
		opt.ttl_known = true;
		opt.metering_time_to_live = m;
		opt.event_time_to_live = e;
		i = 4;
	}
	tl_buf_init(&why);
	tl_buf_init(&report);
	rc = tl_storage_open(argv[1], &opt, &s, &why);
	printf("open: rc=%d why=%s\n", rc, reason(&why, rc));
	fflush(stdout);
	if (rc < 0)
		goto out;
	for (; i < argc; i++) {
		const char *st = argv[i];

		tl_buf_reset(&why);
		tl_buf_reset(&report);
		if (strcmp(st, "dbsync") == 0) {
			char *line, *save = NULL;

			rc = tl_storage_dbsync(s, &report, &why);
			for (line = report.len ? strtok_r(report.data, "\n", &save) : NULL; line;
			     line = strtok_r(NULL, "\n", &save))
				printf("dbsync: %s\n", line);
			printf("dbsync: rc=%d why=%s\n", rc, reason(&why, rc));
		} else if (strcmp(st, "schema") == 0) {
			rc = tl_storage_check_schema(s, &why);
			printf("schema: rc=%d why=%s\n", rc, reason(&why, rc));
		} else if (strncmp(st, "samples=", 8) == 0) {
			write_file(s, st + 8, false);
		} else if (strncmp(st, "events=", 7) == 0) {
			write_file(s, st + 7, true);
		} else if (strcmp(st, "q-samples") == 0) {
			q_samples(s);
		} else if (strcmp(st, "q-complex") == 0) {
			q_complex(s);
		} else if (strcmp(st, "q-stats") == 0) {
			q_stats(s);
		} else if (strcmp(st, "q-meters") == 0) {
			q_meters_resources(s);
		} else if (strcmp(st, "q-events") == 0) {
			q_events(s);
		} else if (strncmp(st, "expire=", 7) == 0) {
			struct tl_expire_report rep = {0};

			rc = tl_storage_expire_samples(
				s, tl_time_now() - strtoll(st + 7, NULL, 10) * 1000000LL, false,
				&rep, &why);
			printf("expire: rc=%d samples=%" PRIu64 " resources=%" PRIu64 " why=%s\n",
			       rc, rep.samples, rep.resources, reason(&why, rc));
		} else {
			fprintf(stderr, "mongo_wire: unknown step %s\n", st);
			rc = 2;
			break;
		}
		fflush(stdout);
	}
	rc = rc == 2 ? 2 : 0;
out:
	tl_storage_close(s);
	tl_buf_fini(&why);
	tl_buf_fini(&report);
	return rc < 0 ? 0 : rc;
}
