/*
 * blacklist.c — the cost of tl_blacklist_filter() per sample, one sample per
 * call (a message of one sample: the read lock included), with no rule and
 * with RULES rules (default 10,000) of the shapes bench/ingest installs:
 * exact meters of other names, uuid-like resource prefixes, a real meter
 * with an exact resource, exact projects with the real source. None matches
 * the samples (real meters, 200 uuid resources, 20 projects, "openstack"),
 * so every call pays the whole lookup. Prints ns per sample for both.
 *
 *   bench/blacklist [RULES]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/blacklist.h"
#include "common/log.h"
#include "common/time.h"

#define SAMPLES 200000
#define ROUNDS	5

static const char *const meters[8] = {"cpu",
				      "cpu_util",
				      "memory.usage",
				      "disk.read.bytes",
				      "network.incoming.bytes.rate",
				      "image.download",
				      "instance",
				      "storage.objects.outgoing.bytes"};

static void hex(char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[rand() % 16];
	out[n] = '\0';
}

static void uuid(char *out)
{
	hex(out, 36);
	out[8] = out[13] = out[18] = out[23] = '-';
	out[14] = '4';
}

static void add_rules(struct tl_blacklist *bl, long n)
{
	char p[2][128], h1[40], h2[40], id[TL_BLACKLIST_ID_MAX];
	const char *one[2][1] = {{p[0]}, {p[1]}};
	struct tl_buf why;
	long i;

	tl_buf_init(&why);
	for (i = 0; i < n; i++) {
		struct tl_blacklist_spec s = {0};

		switch (i % 4) {
		case 0:
			snprintf(p[0], sizeof(p[0]), "%s.x%ld", meters[i % 8], i);
			s.patterns[TL_BL_METER] = one[0];
			break;
		case 1:
			hex(h1, 7);
			hex(h2, (size_t)(i % 5));
			snprintf(p[1], sizeof(p[1]), "%sg%s*", h1, h2);
			s.patterns[TL_BL_RESOURCE] = one[1];
			break;
		case 2:
			snprintf(p[0], sizeof(p[0]), "%s", meters[i % 8]);
			uuid(h1);
			h1[24] = 'g';
			snprintf(p[1], sizeof(p[1]), "%s", h1);
			s.patterns[TL_BL_METER] = one[0];
			s.patterns[TL_BL_RESOURCE] = one[1];
			break;
		default:
			hex(h1, 32);
			snprintf(p[0], sizeof(p[0]), "%sg", h1);
			snprintf(p[1], sizeof(p[1]), "openstack");
			s.patterns[TL_BL_PROJECT] = one[0];
			s.patterns[TL_BL_SOURCE] = one[1];
		}
		for (int f = 0; f < TL_BL_NFIELDS; f++)
			s.n[f] = s.patterns[f] != NULL;
		if (tl_blacklist_add(bl, &s, "bench", id, &why) < 0) {
			fprintf(stderr, "rule %ld: %s\n", i, why.data ? why.data : "?");
			exit(1);
		}
	}
	tl_buf_fini(&why);
}

/* ns per sample over ROUNDS passes, the best pass. */
static double run(struct tl_blacklist *bl, struct tl_sample *v)
{
	double best = 1e30;
	int r;

	for (r = 0; r < ROUNDS; r++) {
		int64_t t0 = tl_time_mono(), now = tl_time_now();
		size_t i, dropped = 0;

		for (i = 0; i < SAMPLES; i++) {
			struct tl_sample one = v[i];
			size_t n = 1;

			dropped += tl_blacklist_filter(bl, &one, &n, now);
		}
		if (dropped) {
			fprintf(stderr, "a rule matched a sample\n");
			exit(1);
		}
		double ns = (double)(tl_time_mono() - t0) * 1000.0 / SAMPLES;
		if (ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	long rules = argc > 1 ? atol(argv[1]) : 10000;
	static char res[200][40], proj[20][40];
	struct tl_sample *v = calloc(SAMPLES, sizeof(*v));
	struct tl_blacklist *none, *bl;
	double a, b;
	size_t i;

	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "bench"); /* not a line per rule added */
	srand(16);
	for (i = 0; i < 200; i++)
		uuid(res[i]);
	for (i = 0; i < 20; i++)
		uuid(proj[i]);
	for (i = 0; i < SAMPLES; i++) {
		size_t r = (size_t)rand() % 200;

		v[i].counter_name = meters[i % 8];
		v[i].resource_id = res[r];
		v[i].project_id = proj[r % 20];
		v[i].source = "openstack";
	}
	if (tl_blacklist_create(NULL, &none) < 0 || tl_blacklist_create(NULL, &bl) < 0)
		return 1;
	/* One rule that matches nothing keeps the empty case from skipping the lock. */
	add_rules(none, 1);
	add_rules(bl, rules);
	a = run(none, v);
	b = run(bl, v);
	printf("bench/blacklist: tl_blacklist_filter per sample (1 per call), best of %d x %d\n",
	       ROUNDS, SAMPLES);
	printf("  1 rule:      %8.1f ns/sample\n", a);
	printf("  %ld rules: %8.1f ns/sample (%+.1f ns)\n", rules, b, b - a);
	tl_blacklist_destroy(none);
	tl_blacklist_destroy(bl);
	free(v);
	return 0;
}
