/*
 * seed_store URL FILE — writes the samples and events of FILE into the store
 * at URL (its schema created first), for the API tests. FILE holds one JSON
 * value per line: a ceilometer sample dict (docs/compatibility.md §1.3), an event dict
 * (§1.4) or a list of them, decoded by the collector's own decoder without
 * signature checks, then stored with the storage driver as the database
 * dispatcher stores them. Prints "stored N samples, M events". Exit 0, or 1
 * with the reason. With SEED_PROGRESS set, also writes "<mono µs> <samples>"
 * to stderr after each line (bench/expire measures ingest rates so).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/decode.h"
#include "common/time.h"
#include "storage/storage.h"

int main(int argc, char **argv)
{
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;
	struct tl_storage_options opt;
	struct tl_storage *s = NULL;
	struct tl_decoder dec;
	struct tl_decoded res;
	struct tl_buf why, report;
	size_t samples = 0, events = 0, lineno = 0, cap = 0, i;
	char *line = NULL;
	ssize_t n;
	FILE *f;
	int rc = 1;
	bool progress = getenv("SEED_PROGRESS") != NULL;

	if (argc != 3) {
		fprintf(stderr, "usage: seed_store URL FILE\n");
		return 2;
	}
	f = fopen(argv[2], "r");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	tl_buf_init(&why);
	tl_buf_init(&report);
	tl_decoder_init(&dec, &lim, NULL);
	tl_decoded_init(&res);
	tl_storage_options_init(&opt);
	if (tl_storage_open(argv[1], &opt, &s, &why) < 0 ||
	    tl_storage_dbsync(s, &report, &why) < 0) {
		fprintf(stderr, "seed_store: %s\n", why.len ? why.data : "cannot open the store");
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		const struct tl_sample **sv = NULL;
		const struct tl_event **ev = NULL;
		struct tl_store_report rep = {0};
		uint8_t flags[10000];

		lineno++;
		if (n <= 1)
			continue;
		if (tl_decode_json(&dec, line, (size_t)n, &res) < 0 || res.n_rejects) {
			fprintf(stderr, "seed_store: %s:%zu: %s\n", argv[2], lineno,
				res.n_rejects ? res.rejects[0].reason : "not understood");
			goto out;
		}
		sv = calloc(res.n_samples + 1, sizeof(*sv));
		ev = calloc(res.n_events + 1, sizeof(*ev));
		for (i = 0; sv && i < res.n_samples; i++)
			sv[i] = &res.samples[i];
		for (i = 0; ev && i < res.n_events; i++)
			ev[i] = &res.events[i];
		memset(flags, 0, sizeof(flags));
		rep.refused = flags;
		rep.why = &why;
		if (!sv || !ev ||
		    (res.n_samples && tl_storage_record_samples(s, sv, res.n_samples, &rep) < 0) ||
		    (res.n_events && tl_storage_record_events(s, ev, res.n_events, &rep) < 0) ||
		    rep.n_refused) {
			fprintf(stderr, "seed_store: %s:%zu: not stored: %s\n", argv[2], lineno,
				why.len ? why.data : "?");
			free(sv);
			free(ev);
			goto out;
		}
		samples += res.n_samples;
		events += res.n_events;
		free(sv);
		free(ev);
		if (progress)
			fprintf(stderr, "%lld %zu\n", (long long)tl_time_mono(), samples);
	}
	printf("stored %zu samples, %zu events\n", samples, events);
	rc = 0;
out:
	free(line);
	fclose(f);
	tl_storage_close(s);
	tl_decoded_fini(&res);
	tl_decoder_fini(&dec);
	tl_buf_fini(&why);
	tl_buf_fini(&report);
	return rc;
}
