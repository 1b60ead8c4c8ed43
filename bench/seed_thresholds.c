/*
 * bench/seed_thresholds — writes thresholds into a buffer's side state
 * before tallyd starts (bench/ingest THRESHOLDS=N), as POST /v1/thresholds
 * would store them (collector/thresholds.h).
 *
 *   seed_thresholds BUFFER_DIR N METER[,METER...]
 *
 * N thresholds over 1,000 meters: the meters named (those of the benchmark's
 * samples) and "bench.meter.K" for the rest, N / 1,000 per meter, each "above
 * 1e300" on every resource: evaluated for every sample of its meter, never
 * firing (no event is produced; the cost measured is the evaluation's).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buffer.h"
#include "collector/thresholds.h"

#define METERS 1000

int main(int argc, char **argv)
{
	/* Unsynced: the seeding is setup, not measured (tallyd syncs at open). */
	struct tl_buffer_opts o = {.max_size = 2ULL << 30, .sync = TL_BUFFER_SYNC_NONE};
	struct tl_buffer *b;
	struct tl_thresholds *t;
	char *list, *meters[METERS], *save = NULL, *m;
	long n, per, i, k, given = 0;
	int rc;

	if (argc != 4 || (n = strtol(argv[2], NULL, 10)) < METERS) {
		fprintf(stderr, "usage: seed_thresholds BUFFER_DIR N(>=1000) METER[,METER...]\n");
		return 2;
	}
	per = n / METERS;
	list = strdup(argv[3]);
	for (m = strtok_r(list, ",", &save); m && given < METERS; m = strtok_r(NULL, ",", &save))
		meters[given++] = m;
	for (i = given; i < METERS; i++) {
		meters[i] = malloc(32);
		snprintf(meters[i], 32, "bench.meter.%ld", i);
	}
	o.path = argv[1];
	if ((rc = tl_buffer_open(&o, &b)) < 0 || (rc = tl_thresholds_create(&t)) < 0) {
		fprintf(stderr, "seed_thresholds: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	for (i = 0; i < METERS; i++) {
		for (k = 0; k < per; k++) {
			struct tl_threshold_def d = {.op = TL_THRESHOLD_GT, .value = 1e300};

			snprintf(d.name, sizeof(d.name), "bench-%ld-%ld", i, k);
			snprintf(d.meter, sizeof(d.meter), "%s", meters[i]);
			strcpy(d.resource, "*");
			if ((rc = tl_thresholds_put(t, b, &d, true)) < 0) {
				fprintf(stderr, "seed_thresholds: %s\n", strerror(-rc));
				return 1;
			}
		}
	}
	printf("seed_thresholds: %zu thresholds over %d meters (%ld named)\n",
	       tl_thresholds_count(t), METERS, given);
	tl_thresholds_destroy(t);
	tl_buffer_close(b);
	for (i = given; i < METERS; i++)
		free(meters[i]);
	free(list);
	return 0;
}
