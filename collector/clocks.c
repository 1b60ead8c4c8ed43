/*
 * clocks.c — the agents' clock skew (clocks.h).
 */
#include "config.h"

#include "collector/clocks.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/strmap.h"

#define W		 TL_CLOCKS_WINDOW_MINUTES
#define MINUTE_US	 (60 * 1000000LL)
#define MAG		 72 /* magnitude buckets per sign: two per octave of ms, 1 ms to ~1 year */
#define NB		 (2 * MAG + 1) /* negative, zero (under 1 ms), positive */
#define JUDGE_EVERY_US	 1000000LL
#define COMPACT_EVERY_US MINUTE_US
#define CHUNK		 256 /* skews passed at once */

struct host {
	char name[TL_CLOCKS_HOST_MAX + 1];
	int64_t minute[W]; /* the minute (Unix µs / 60 s) each slot holds */
	uint64_t n[W];
	int64_t min_us[W], max_us[W];
	uint32_t counts[W][NB];
	int64_t judged_us; /* wall time of the last verdict; 0: never */
	bool dirty;	   /* samples since the last verdict */
	bool flagged;
};

struct shard {
	pthread_mutex_t mu;
	struct tl_strmap map; /* name -> index in hosts */
	struct host **hosts;
	size_t n;
	int64_t compacted_us;
};

struct tl_clocks {
	int64_t max_skew_us;
	struct tl_notices *notices;
	size_t shard_cap;
	_Atomic uint64_t untracked, forgotten;
	struct shard shards[TL_CLOCKS_SHARDS];
};

/* A host's figures over the window. */
struct figures {
	uint64_t samples;
	double p50, p99, min, max;
};

/* A verdict that changed, posted once the shard's lock is released. */
struct verdict {
	char host[TL_CLOCKS_HOST_MAX + 1];
	bool flagged;
	struct figures f;
};

int tl_clocks_create(double max_skew_s, size_t max_hosts, struct tl_notices *notices,
		     struct tl_clocks **out)
{
	struct tl_clocks *c = calloc(1, sizeof(*c));
	size_t i;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->max_skew_us = (int64_t)(max_skew_s * 1e6);
	c->notices = notices;
	if (!max_hosts)
		max_hosts = TL_CLOCKS_MAX_HOSTS;
	c->shard_cap = (max_hosts + TL_CLOCKS_SHARDS - 1) / TL_CLOCKS_SHARDS;
	for (i = 0; i < TL_CLOCKS_SHARDS; i++) {
		pthread_mutex_init(&c->shards[i].mu, NULL);
		tl_strmap_init(&c->shards[i].map);
		c->shards[i].hosts = calloc(c->shard_cap, sizeof(struct host *));
		if (!c->shards[i].hosts) {
			tl_clocks_destroy(c);
			return -ENOMEM;
		}
	}
	*out = c;
	return 0;
}

void tl_clocks_destroy(struct tl_clocks *c)
{
	size_t i, k;

	if (!c)
		return;
	for (i = 0; i < TL_CLOCKS_SHARDS; i++) {
		struct shard *s = &c->shards[i];

		for (k = 0; k < s->n; k++)
			free(s->hosts[k]);
		free(s->hosts);
		tl_strmap_fini(&s->map);
		pthread_mutex_destroy(&s->mu);
	}
	free(c);
}

double tl_clocks_max_skew(const struct tl_clocks *c)
{
	return (double)c->max_skew_us / 1e6;
}

/* ---- hosts --------------------------------------------------------------------------- */

static void copy_cut(char *out, size_t size, const char *s, size_t len)
{
	if (!size)
		return;
	if (len >= size)
		len = size - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/*
 * The host part of a publisher_id, when it names one: "X.publisher.HOST",
 * or oslo's "SERVICE.HOST" except ceilometer's own ids without a host
 * ("ceilometer.polling", "telemetry.api"...). Returns true with it in out.
 */
static bool publisher_host(const char *pid, char *out, size_t size)
{
	const char *p, *dot;

	if (!pid || !*pid)
		return false;
	p = strstr(pid, ".publisher.");
	if (p && p[11]) {
		copy_cut(out, size, p + 11, strlen(p + 11));
		return true;
	}
	if (strncmp(pid, "ceilometer.", 11) == 0 || strncmp(pid, "telemetry.", 10) == 0)
		return false;
	dot = strchr(pid, '.');
	if (dot && dot[1]) {
		copy_cut(out, size, dot + 1, strlen(dot + 1));
		return true;
	}
	return false;
}

void tl_clocks_host_of(const char *publisher_id, const struct tl_sample *s, char *out, size_t size)
{
	const struct tl_json *h;

	if (publisher_host(publisher_id, out, size))
		return;
	h = s && s->resource_metadata ? tl_json_get(s->resource_metadata, "host") : NULL;
	if (h && h->type == TL_JSON_STRING && h->len)
		copy_cut(out, size, h->u.s, h->len);
	else if (publisher_id && *publisher_id)
		copy_cut(out, size, publisher_id, strlen(publisher_id));
	else
		copy_cut(out, size, "unknown", 7);
}

/* ---- the histogram ------------------------------------------------------------------- */

static int64_t minute_of(int64_t us)
{
	return us >= 0 ? us / MINUTE_US : -((-us + MINUTE_US - 1) / MINUTE_US);
}

static size_t bucket_of(int64_t skew_us)
{
	double ms = fabs((double)skew_us) / 1000.0;
	int k;

	if (ms < 1.0)
		return MAG;
	k = (int)floor(2.0 * log2(ms)) + 1;
	if (k > MAG)
		k = MAG;
	return skew_us > 0 ? (size_t)(MAG + k) : (size_t)(MAG - k);
}

/* A bucket's bounds in seconds. */
static void bucket_bounds(size_t i, double *lo, double *hi)
{
	int k = (int)i - MAG, a = k < 0 ? -k : k;
	double inner = pow(2.0, (a - 1) / 2.0) / 1000.0;
	double outer = pow(2.0, a / 2.0) / 1000.0;

	if (k == 0) {
		*lo = -0.001;
		*hi = 0.001;
	} else if (k > 0) {
		*lo = inner;
		*hi = outer;
	} else {
		*lo = -outer;
		*hi = -inner;
	}
}

static void add(struct host *h, int64_t skew_us, int64_t now_us)
{
	int64_t m = minute_of(now_us);
	size_t slot = (size_t)(((m % W) + W) % W);

	if (h->minute[slot] != m || h->n[slot] == 0) {
		memset(h->counts[slot], 0, sizeof(h->counts[slot]));
		h->minute[slot] = m;
		h->n[slot] = 0;
		h->min_us[slot] = h->max_us[slot] = skew_us;
	}
	if (h->counts[slot][bucket_of(skew_us)] == UINT32_MAX)
		return; /* four billion samples of one host in a minute: enough */
	h->counts[slot][bucket_of(skew_us)]++;
	h->n[slot]++;
	if (skew_us < h->min_us[slot])
		h->min_us[slot] = skew_us;
	if (skew_us > h->max_us[slot])
		h->max_us[slot] = skew_us;
}

static double quantile(const uint64_t *cnt, uint64_t total, double q, double min, double max)
{
	double target = q * (double)total, v = max;
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < NB; i++) {
		double lo, hi;

		if (!cnt[i])
			continue;
		if ((double)(cum + cnt[i]) >= target) {
			/* The bucket, narrowed to the samples' range when it holds an end. */
			bucket_bounds(i, &lo, &hi);
			lo = lo < min ? min : lo;
			hi = hi > max ? max : hi;
			v = lo + (hi - lo) * (target - (double)cum) / (double)cnt[i];
			break;
		}
		cum += cnt[i];
	}
	return v < min ? min : v > max ? max : v;
}

static void figures_of(const struct host *h, int64_t now_us, struct figures *f)
{
	int64_t m = minute_of(now_us), lo = INT64_MAX, hi = INT64_MIN;
	uint64_t cnt[NB] = {0};
	size_t s, i;

	memset(f, 0, sizeof(*f));
	for (s = 0; s < W; s++) {
		if (!h->n[s] || h->minute[s] > m || h->minute[s] <= m - W)
			continue;
		for (i = 0; i < NB; i++)
			cnt[i] += h->counts[s][i];
		f->samples += h->n[s];
		lo = h->min_us[s] < lo ? h->min_us[s] : lo;
		hi = h->max_us[s] > hi ? h->max_us[s] : hi;
	}
	if (!f->samples)
		return;
	f->min = (double)lo / 1e6;
	f->max = (double)hi / 1e6;
	f->p50 = quantile(cnt, f->samples, 0.5, f->min, f->max);
	f->p99 = quantile(cnt, f->samples, 0.99, f->min, f->max);
}

/* Judges h now; true when its verdict changed (then v says what). */
static bool judge(struct tl_clocks *c, struct host *h, int64_t now_us, struct verdict *v)
{
	struct figures f;
	bool off;

	h->judged_us = now_us;
	h->dirty = false;
	figures_of(h, now_us, &f);
	if (!f.samples)
		return false; /* nothing to go by: the last verdict holds */
	off = fabs(f.p50) * 1e6 > (double)c->max_skew_us;
	if (off == h->flagged)
		return false;
	h->flagged = off;
	snprintf(v->host, sizeof(v->host), "%s", h->name);
	v->flagged = off;
	v->f = f;
	return true;
}

static void post(struct tl_clocks *c, const struct verdict *v)
{
	double skew = tl_clocks_max_skew(c);
	struct tl_buf d;

	tl_buf_init(&d);
	tl_buf_puts(&d, "{\"host\": ");
	tl_json_write_string(v->host, strlen(v->host), &d);
	tl_buf_printf(&d,
		      ", \"p50_seconds\": %.3f, \"p99_seconds\": %.3f, \"samples\": %llu, "
		      "\"max_skew_seconds\": %g}",
		      v->f.p50, v->f.p99, (unsigned long long)v->f.samples, skew);
	if (v->flagged)
		tl_notices_post_detail(
			c->notices, TL_NOTICE_WARNING, "clock.skew", v->host,
			tl_buf_error(&d) ? NULL : d.data,
			"the clock of %s looks off by %.1f s (the median of received time minus "
			"sample timestamp over %llu samples in the last %d minutes), beyond "
			"max_skew %g s: sync that agent's clock (tallyd does not set clocks)",
			v->host, v->f.p50, (unsigned long long)v->f.samples, W, skew);
	else
		tl_notices_post_detail(c->notices, TL_NOTICE_INFO, "clock.ok", v->host,
				       tl_buf_error(&d) ? NULL : d.data,
				       "the clock of %s is within max_skew %g s again (median %.1f "
				       "s over %llu samples)",
				       v->host, skew, v->f.p50, (unsigned long long)v->f.samples);
	tl_buf_fini(&d);
}

/* ---- shards -------------------------------------------------------------------------- */

static struct shard *shard_of(struct tl_clocks *c, const char *host, size_t len)
{
	return &c->shards[tl_hash(host, len, TL_HASH_SEED) % TL_CLOCKS_SHARDS];
}

static bool in_window(const struct host *h, int64_t now_us)
{
	int64_t m = minute_of(now_us);
	size_t s;

	for (s = 0; s < W; s++)
		if (h->n[s] && h->minute[s] > m - W && h->minute[s] <= m)
			return true;
	return false;
}

/* Forgets the hosts without a sample in the window (the map is rebuilt). Under s->mu. */
static void compact(struct tl_clocks *c, struct shard *s, int64_t now_us)
{
	size_t i, kept = 0;

	s->compacted_us = now_us;
	tl_strmap_clear(&s->map);
	for (i = 0; i < s->n; i++) {
		struct host *h = s->hosts[i];
		uint64_t *slot;

		if (!in_window(h, now_us) || !(slot = tl_strmap_put(&s->map, h->name, NULL))) {
			free(h);
			atomic_fetch_add(&c->forgotten, 1);
			continue;
		}
		*slot = kept;
		s->hosts[kept++] = h;
	}
	s->n = kept;
}

/* The host called name (added when there is room), or NULL. Under s->mu. */
static struct host *find(struct tl_clocks *c, struct shard *s, const char *name, size_t len,
			 int64_t now_us)
{
	struct host *h;
	uint64_t idx, *slot;

	if (tl_strmap_getn(&s->map, name, len, &idx) == 0)
		return s->hosts[idx];
	if (s->n == c->shard_cap && now_us - s->compacted_us >= COMPACT_EVERY_US)
		compact(c, s, now_us);
	if (s->n == c->shard_cap || !(h = calloc(1, sizeof(*h))))
		return NULL;
	slot = tl_strmap_putn(&s->map, name, len, NULL);
	if (!slot) {
		free(h);
		return NULL;
	}
	copy_cut(h->name, sizeof(h->name), name, len);
	*slot = s->n;
	s->hosts[s->n++] = h;
	return h;
}

void tl_clocks_observe(struct tl_clocks *c, const char *host, const int64_t *skew_us, size_t n,
		       int64_t now_us)
{
	size_t len = strnlen(host, TL_CLOCKS_HOST_MAX), i;
	struct shard *s = shard_of(c, host, len);
	struct verdict v;
	struct host *h;
	bool changed = false;

	if (!n)
		return;
	pthread_mutex_lock(&s->mu);
	h = find(c, s, host, len, now_us);
	if (h) {
		for (i = 0; i < n; i++)
			add(h, skew_us[i], now_us);
		if (now_us - h->judged_us >= JUDGE_EVERY_US)
			changed = judge(c, h, now_us, &v);
		else
			h->dirty = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (!h)
		atomic_fetch_add(&c->untracked, n);
	if (changed)
		post(c, &v);
}

void tl_clocks_observe_samples(struct tl_clocks *c, const char *publisher_id,
			       const struct tl_sample *samples, size_t n, int64_t now_us)
{
	char run[TL_CLOCKS_HOST_MAX + 1], cur[TL_CLOCKS_HOST_MAX + 1];
	bool one = publisher_host(publisher_id, run, sizeof(run));
	int64_t skew[CHUNK];
	size_t i, k = 0;

	/* One lookup per host: per message when the publisher names it, else
	 * per run of samples of one metadata host. */
	for (i = 0; i < n; i++) {
		if (!one) {
			tl_clocks_host_of(publisher_id, &samples[i], cur, sizeof(cur));
			if (k && strcmp(cur, run) != 0) {
				tl_clocks_observe(c, run, skew, k, now_us);
				k = 0;
			}
			if (!k)
				memcpy(run, cur, sizeof(run));
		}
		if (k == CHUNK) {
			tl_clocks_observe(c, run, skew, k, now_us);
			k = 0;
		}
		skew[k++] = now_us - samples[i].timestamp;
	}
	if (k)
		tl_clocks_observe(c, run, skew, k, now_us);
}

void tl_clocks_tick(struct tl_clocks *c, int64_t now_us)
{
	struct verdict *v = NULL;
	size_t n = 0, cap = 0, i, k;

	for (i = 0; i < TL_CLOCKS_SHARDS; i++) {
		struct shard *s = &c->shards[i];

		pthread_mutex_lock(&s->mu);
		for (k = 0; k < s->n; k++) {
			struct verdict x;

			if (!s->hosts[k]->dirty || !judge(c, s->hosts[k], now_us, &x))
				continue;
			/* Without memory the verdict holds, unannounced: the flag is still right.
			 */
			if (tl_array_grow((void **)&v, &cap, n + 1, sizeof(*v)) == 0)
				v[n++] = x;
		}
		pthread_mutex_unlock(&s->mu);
	}
	for (i = 0; i < n; i++)
		post(c, &v[i]);
	free(v);
}

int tl_clocks_each(struct tl_clocks *c, int64_t now_us,
		   int (*cb)(const struct tl_clock_host *h, void *ctx), void *ctx)
{
	struct tl_clock_host x;
	size_t i, k;
	int rc = 0;

	for (i = 0; i < TL_CLOCKS_SHARDS && !rc; i++) {
		struct shard *s = &c->shards[i];

		pthread_mutex_lock(&s->mu);
		for (k = 0; k < s->n && !rc; k++) {
			struct figures f;

			figures_of(s->hosts[k], now_us, &f);
			memcpy(x.host, s->hosts[k]->name, sizeof(x.host));
			x.samples = f.samples;
			x.p50 = f.p50;
			x.p99 = f.p99;
			x.min = f.min;
			x.max = f.max;
			x.flagged = s->hosts[k]->flagged;
			rc = cb(&x, ctx);
		}
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

void tl_clocks_stats(struct tl_clocks *c, struct tl_clocks_stats *out)
{
	size_t i, k;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < TL_CLOCKS_SHARDS; i++) {
		struct shard *s = &c->shards[i];

		pthread_mutex_lock(&s->mu);
		out->hosts += s->n;
		for (k = 0; k < s->n; k++)
			out->flagged += s->hosts[k]->flagged;
		pthread_mutex_unlock(&s->mu);
	}
	out->untracked_samples = atomic_load(&c->untracked);
	out->forgotten = atomic_load(&c->forgotten);
}
