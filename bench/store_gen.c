/*
 * bench/store_gen.c — the data set of bench/store and bench/mongodb.
 *
 * What a ceilometer polling agent sends for 1,000 instances: 20 meters
 * (ceilometer's names, units and types) per resource, consecutive polls of a
 * (meter, resource) pair 60 s apart (poll_seconds), the last poll just before
 * now, µs timestamps; 50 projects, 200 users; each sample carries 10
 * resource_metadata keys (strings, ints, a float, a bool, a nested flavor
 * dict), stable per resource except "status" (changes every 100 samples of
 * the resource) and "host" (a migration every 1,000). Sample number i is
 * always the same sample (its message_id included), so two stores written
 * with the same numbers hold the same rows. The 20 meters of a resource are
 * consecutive numbers: a batch of 1,000 holds 50 resources.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "bench/store_gen.h"
#include "common/time.h"

/* How a meter's volume moves: a counter, a varying gauge, a delta, a flavor constant. */
enum vkind { V_CUMULATIVE, V_GAUGE, V_DELTA, V_VCPUS, V_RAM, V_DISK, V_ZERO, V_ONE };

struct meter_def {
	const char *name, *type, *unit;
	enum vkind kind;
};

static const struct meter_def meters[N_METERS] = {
	{"cpu", "cumulative", "ns", V_CUMULATIVE},
	{"cpu_util", "gauge", "%", V_GAUGE},
	{"cpu.delta", "delta", "ns", V_DELTA},
	{"vcpus", "gauge", "vcpu", V_VCPUS},
	{"memory", "gauge", "MB", V_RAM},
	{"memory.usage", "gauge", "MB", V_GAUGE},
	{"memory.resident", "gauge", "MB", V_GAUGE},
	{"disk.root.size", "gauge", "GB", V_DISK},
	{"disk.ephemeral.size", "gauge", "GB", V_ZERO},
	{"disk.read.bytes", "cumulative", "B", V_CUMULATIVE},
	{"disk.write.bytes", "cumulative", "B", V_CUMULATIVE},
	{"disk.read.requests", "cumulative", "request", V_CUMULATIVE},
	{"disk.write.requests", "cumulative", "request", V_CUMULATIVE},
	{"disk.read.bytes.rate", "gauge", "B/s", V_GAUGE},
	{"disk.write.bytes.rate", "gauge", "B/s", V_GAUGE},
	{"network.incoming.bytes", "cumulative", "B", V_CUMULATIVE},
	{"network.outgoing.bytes", "cumulative", "B", V_CUMULATIVE},
	{"network.incoming.packets", "cumulative", "packet", V_CUMULATIVE},
	{"network.outgoing.packets", "cumulative", "packet", V_CUMULATIVE},
	{"instance", "gauge", "instance", V_ONE},
};

struct flavor {
	const char *id, *name;
	int vcpus, ram, disk;
};

static const struct flavor flavors[] = {
	{"1", "m1.tiny", 1, 512, 1},	   {"2", "m1.small", 1, 2048, 20},
	{"3", "m1.medium", 2, 4096, 40},   {"4", "m1.large", 4, 8192, 80},
	{"5", "m1.xlarge", 8, 16384, 160},
};
#define N_FLAVORS (sizeof(flavors) / sizeof(flavors[0]))

static const char *const statuses[] = {"active", "paused", "active", "suspended"};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void uuid_of(uint64_t seed, char out[37])
{
	uint64_t a = mix(seed), b = mix(seed ^ 0x5bd1e995ULL);

	snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
		 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
		 (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
		 (unsigned long long)(b & 0xffffffffffffULL));
}

/* Keystone ids: 32 hex digits. */
static void hexid_of(uint64_t seed, char out[33])
{
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)mix(seed),
		 (unsigned long long)mix(seed + 1));
}

void store_gen_init(struct store_gen *g, uint64_t total, int64_t poll_seconds, int64_t first_s)
{
	int64_t now = tl_time_now();
	unsigned i;

	g->total = total;
	g->poll_us = poll_seconds * 1000000LL;
	g->rounds = (unsigned)((total + PER_ROUND - 1) / PER_ROUND);
	/* The last poll ends before now. */
	g->first_us = now / 60000000LL * 60000000LL - (int64_t)g->rounds * g->poll_us;
	if (first_s)
		g->first_us = first_s * 1000000LL;
	for (i = 0; i < N_RESOURCES; i++) {
		uuid_of(1000000 + i, g->resource[i]);
		g->offset[i] = (int64_t)(mix(i * 7 + 3) % 59000000ULL);
	}
	for (i = 0; i < N_IMAGES; i++)
		uuid_of(2000000 + i, g->image[i]);
	for (i = 0; i < N_USERS; i++)
		hexid_of(3000000 + i * 2, g->user[i]);
	for (i = 0; i < N_PROJECTS; i++)
		hexid_of(4000000 + i * 2, g->project[i]);
}

/* The timestamp of sample number i. */
int64_t store_gen_time(const struct store_gen *g, uint64_t i)
{
	unsigned round = (unsigned)(i / PER_ROUND), r = (unsigned)(i % PER_ROUND / N_METERS),
		 m = (unsigned)(i % N_METERS);

	/* The meters of a resource are polled a few ms apart, at µs precision. */
	return g->first_us + (int64_t)round * g->poll_us + g->offset[r] + (int64_t)m * 37000 +
	       (int64_t)(mix((uint64_t)r * N_METERS + m) % 1000);
}

/* Appends sample number i to b as a ceilometer sample dict. */
int store_gen_sample(const struct store_gen *g, uint64_t i, struct tl_buf *b)
{
	unsigned round = (unsigned)(i / PER_ROUND), r = (unsigned)(i % PER_ROUND / N_METERS),
		 m = (unsigned)(i % N_METERS);
	const struct meter_def *md = &meters[m];
	const struct flavor *fl = &flavors[r % N_FLAVORS];
	uint64_t h = mix(i * 0x9e37 + 11), pair = mix((uint64_t)r * N_METERS + m + 77);
	char ts[TL_TIME_ISO_SIZE], mid[37], vol[40];
	unsigned user = r % N_USERS;

	switch (md->kind) {
	case V_CUMULATIVE:
		snprintf(vol, sizeof(vol), "%llu",
			 (unsigned long long)(pair % 1000000000ULL +
					      (uint64_t)(round + 1) * (1000 + pair % 5000000ULL) +
					      h % 1000));
		break;
	case V_GAUGE:
		snprintf(vol, sizeof(vol), "%.2f", (double)(h % 1000000ULL) / 100.0);
		break;
	case V_DELTA:
		snprintf(vol, sizeof(vol), "%llu", (unsigned long long)(h % 60000000000ULL));
		break;
	case V_VCPUS:
		snprintf(vol, sizeof(vol), "%d", fl->vcpus);
		break;
	case V_RAM:
		snprintf(vol, sizeof(vol), "%d", fl->ram);
		break;
	case V_DISK:
		snprintf(vol, sizeof(vol), "%d", fl->disk);
		break;
	case V_ZERO:
		snprintf(vol, sizeof(vol), "0");
		break;
	case V_ONE:
		snprintf(vol, sizeof(vol), "1");
		break;
	}
	tl_time_format(store_gen_time(g, i), ts, sizeof(ts));
	uuid_of(i ^ 0x7a11e5a11ULL, mid);
	return tl_buf_printf(
		b,
		"{\"source\":\"openstack\",\"counter_name\":\"%s\",\"counter_type\":\"%s\","
		"\"counter_unit\":\"%s\",\"counter_volume\":%s,\"user_id\":\"%s\","
		"\"project_id\":\"%s\",\"resource_id\":\"%s\",\"timestamp\":\"%s\","
		"\"message_id\":\"%s\",\"resource_metadata\":{\"display_name\":\"vm-%04u\","
		"\"host\":\"compute-%02u.example.org\",\"instance_type\":\"%s\","
		"\"image_ref\":\"%s\","
		"\"status\":\"%s\",\"memory_mb\":%d,\"vcpus\":%d,\"cpu_weight\":%.2f,"
		"\"auto_disk_config\":%s,\"flavor\":{\"id\":\"%s\",\"name\":\"%s\",\"vcpus\":%d,"
		"\"ram\":%d,\"disk\":%d}}}",
		md->name, md->type, md->unit, vol, g->user[user], g->project[user % N_PROJECTS],
		g->resource[r], ts, mid, r, (r + round / 50) % N_HOSTS, fl->name,
		g->image[r % N_IMAGES], statuses[(round / 5 + r) % 4], fl->ram, fl->vcpus,
		1.0 + (r % 4) * 0.25, r % 3 == 0 ? "true" : "false", fl->id, fl->name, fl->vcpus,
		fl->ram, fl->disk);
}

/* The JSON list of samples first..first+n, as the collector would receive it. */
int store_gen_batch(const struct store_gen *g, uint64_t first, size_t n, struct tl_buf *b)
{
	size_t k;

	tl_buf_reset(b);
	if (tl_buf_putc(b, '[') < 0)
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		if ((k && tl_buf_putc(b, ',') < 0) || store_gen_sample(g, first + k, b) < 0)
			return -ENOMEM;
	}
	return tl_buf_putc(b, ']') < 0 ? -ENOMEM : 0;
}
