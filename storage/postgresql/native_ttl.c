/*
 * native_ttl.c — expiry inside the database (storage.native_ttl): a
 * PL/pgSQL procedure that does what expire.c does, scheduled by the
 * server's pg_cron extension (Debian's postgresql-15-cron), installed by
 * tallyctl dbsync and reported by tallyctl status and dbsync.
 *
 * The procedure follows expire.c step by step and EXECUTEs the very same
 * statements (expire_sql.h): whole partitions past the cut-off, then the
 * straddling rows in batches, then the orphans by key ranges, then events,
 * each step its own transaction (a procedure may COMMIT when CALLed at top
 * level, as pg_cron does), taking the writers' lock only where expire.c
 * does and bumping tally_cache_epoch where it does. It takes the expirer
 * lock (PG_LOCK_EXPIRER) without waiting, so a tally-expirer run and the
 * job never work at once: the one that comes second skips its run (or,
 * tally-expirer without --wait, exits 75).
 *
 * Threads: as the rest of the driver, one connection per thread.
 *
 * Values: the TTLs and the batch are integers from the configuration,
 * formatted with %lld into the job's command (pg_cron stores a text); the
 * schedule and the job name are bound parameters; partition names come
 * from the catalog and are checked ([a-z0-9_]) and quoted with %I.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/postgresql/expire_sql.h"
#include "storage/postgresql/pg_internal.h"

/* pg_cron's job name (one job per database user). */
#define JOB_NAME  "tally_native_ttl"
#define JOB_BATCH 10000

/*
 * PL/pgSQL of the steps (expire.c's expire_loop, expire_ranges, expire_txn):
 * a text of expire_sql.h is EXECUTEd with USING the cut-off, the batch and
 * the last key; "lock" is a PERFORM of the writers' lock or nothing.
 * (clang-format would split these literals apart.)
 */
/* clang-format off */
#define Q(sql) "$q$" sql "$q$"
#define EPOCH "IF v_n > 0 THEN PERFORM nextval('tally_cache_epoch'); END IF; "
/*
 * A step that meets tallyd's writers (a deadlock with a partition being
 * made while it deletes, a lock timeout) is tried again after a pause,
 * up to 20 times, as a failed step of expire.c is by the next run: the
 * "again" statement sets what makes the loop go round once more.
 */
#define RETRY(stmt, again) \
	"BEGIN " stmt " v_tries := 0; EXCEPTION WHEN deadlock_detected OR serialization_failure " \
	"OR lock_not_available THEN v_tries := v_tries + 1; IF v_tries > 20 THEN RAISE; END IF; " \
	"PERFORM pg_sleep(0.05 * v_tries); " again " END; "
/* Batches until one comes back short; a probe that finds nothing first ends it. */
#define LOOP_BATCHES(probe, lock, sql) \
	"LOOP EXECUTE " Q(probe) " INTO v_n USING v_before, p_batch; EXIT WHEN v_n = 0; " \
	lock RETRY("EXECUTE " Q(sql) " INTO v_n USING v_before, p_batch;", "v_n := p_batch;") \
	EPOCH "COMMIT; EXIT WHEN v_n < p_batch; END LOOP;\n"
/* Key ranges until one comes back short, when the probe finds anything. */
#define LOOP_RANGES(probe, lock, sql) \
	"EXECUTE " Q(probe) " INTO v_n USING v_before, p_batch; IF v_n > 0 THEN " \
	"v_last := -1; LOOP " lock \
	RETRY("EXECUTE " Q(sql) " INTO v_n, v_max, v_keys USING v_before, p_batch, v_last;", \
	      "v_n := 0; v_max := v_last; v_keys := p_batch;") \
	EPOCH "COMMIT; EXIT WHEN v_keys < p_batch; v_last := v_max; END LOOP; END IF;\n"
/* One statement without parameters, when the probe finds anything. */
#define ONCE(probe, lock, sql) \
	"EXECUTE " Q(probe) " INTO v_n; IF v_n > 0 THEN " lock " EXECUTE " Q(sql) \
	" INTO v_n; " EPOCH "COMMIT; END IF;\n"
#define LOCK_SAMPLES "PERFORM pg_advisory_xact_lock(@S@);"
#define LOCK_EVENTS "PERFORM pg_advisory_xact_lock(@E@);"

/*
 * The procedure. @X@, @S@ and @E@ stand for the expirer, samples and
 * events lock keys (pg_internal.h), written in by proc_text(). It COMMITs
 * after each step as expire.c does (pg_cron CALLs it at top level).
 */
static const char proc_template[] =
	"CREATE OR REPLACE PROCEDURE tally_native_expire(p_metering_ttl bigint,"
	" p_event_ttl bigint, p_samples_only boolean, p_batch bigint)\n"
	"LANGUAGE plpgsql AS $tally$\n"
	"DECLARE\n"
	"  v_parts text[]; v_part text; v_before timestamp;\n"
	"  v_n bigint; v_last bigint; v_max bigint; v_keys bigint; v_tries int := 0;\n"
	"BEGIN\n"
	/* One expirer at a time: tally-expirer holds the same lock. */
	"IF NOT pg_try_advisory_lock(@X@) THEN\n"
	"  RAISE NOTICE 'tally: another expirer holds the lock; this run does nothing';\n"
	"  RETURN;\n"
	"END IF;\n"
	"PERFORM set_config('statement_timeout', '0', false);\n"
	"IF p_metering_ttl > 0 THEN\n"
	"v_before := (clock_timestamp() AT TIME ZONE 'UTC')"
	" - make_interval(secs => p_metering_ttl);\n"
	/* Whole partitions, each its own transaction with a lock timeout (a
	 * busy one waits for the next run). */
	"EXECUTE " Q("SELECT array(" PG_SQL_OLD_PARTITIONS ")") " INTO v_parts USING v_before;\n"
	"FOREACH v_part IN ARRAY coalesce(v_parts, '{}') LOOP\n"
	"  CONTINUE WHEN v_part !~ '^[a-z0-9_]{1,63}$';\n"
	"  BEGIN\n"
	"    PERFORM set_config('lock_timeout', '5s', true);\n"
	"    EXECUTE format(" Q(PG_SQL_PARTITION_CANDIDATES) ", v_part, v_part);\n"
	"    EXECUTE format('DROP TABLE %I', v_part);\n"
	"    PERFORM nextval('tally_cache_epoch');\n"
	"  EXCEPTION WHEN lock_not_available THEN\n"
	"    RAISE NOTICE 'tally: partition % is busy; the next run drops it', v_part;\n"
	"  END;\n"
	"  COMMIT;\n"
	"END LOOP;\n"
	/* The straddling partition and sample_default, oldest rows first. */
	"LOOP " RETRY("EXECUTE " Q(PG_SQL_EXPIRE_EDGE) " INTO v_n USING v_before, p_batch;",
		      "v_n := p_batch;")
	" COMMIT; EXIT WHEN v_n < p_batch; END LOOP;\n"
	"IF NOT p_samples_only THEN\n"
	LOOP_BATCHES(PG_SQL_RESOURCES_PROBE, LOCK_SAMPLES, PG_SQL_RESOURCES)
	LOOP_RANGES(PG_SQL_RESOURCE_METER_PROBE, LOCK_SAMPLES, PG_SQL_RESOURCE_METER)
	"v_last := -1; LOOP "
	RETRY("EXECUTE " Q(PG_SQL_FIRST_SAMPLE) " INTO v_n, v_max, v_keys USING v_before, p_batch, v_last;",
	      "v_max := v_last; v_keys := p_batch;")
	" COMMIT; EXIT WHEN v_keys < p_batch; v_last := v_max; END LOOP;\n"
	ONCE(PG_SQL_METERS_PROBE, LOCK_SAMPLES, PG_SQL_METERS)
	LOOP_RANGES(PG_SQL_METADATA_PROBE, LOCK_SAMPLES, PG_SQL_METADATA)
	"END IF;\n"
	"END IF;\n"
	"IF p_event_ttl > 0 THEN\n"
	"v_before := (clock_timestamp() AT TIME ZONE 'UTC')"
	" - make_interval(secs => p_event_ttl);\n"
	"LOOP " RETRY("EXECUTE " Q(PG_SQL_EXPIRE_EVENTS) " INTO v_n USING v_before, p_batch;",
		      "v_n := p_batch;")
	" COMMIT; EXIT WHEN v_n < p_batch; END LOOP;\n"
	ONCE(PG_SQL_EVENT_TYPES_PROBE, LOCK_EVENTS, PG_SQL_EVENT_TYPES)
	"END IF;\n"
	"PERFORM pg_advisory_unlock(@X@);\n"
	"END\n"
	"$tally$";
/* clang-format on */

/* The procedure's text with the lock keys written in. */
static int proc_text(struct tl_buf *out)
{
	const char *p = proc_template, *at;

	while ((at = strchr(p, '@')) != NULL && at[1] && at[2] == '@') {
		long long key = at[1] == 'X'   ? PG_LOCK_EXPIRER
				: at[1] == 'S' ? PG_LOCK_SAMPLES
					       : PG_LOCK_EVENTS;

		tl_buf_append(out, p, (size_t)(at - p));
		tl_buf_printf(out, "%lld", key);
		p = at + 3;
	}
	tl_buf_puts(out, p);
	return tl_buf_error(out);
}

static void copy_field(char *dst, size_t size, PGresult *res, int row, int col)
{
	snprintf(dst, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
	/* One line: a server message may hold several. */
	dst[strcspn(dst, "\r\n")] = '\0';
}

/* Does a shared_preload_libraries value name pg_cron? */
static bool preloads_cron(const char *libs)
{
	size_t n;

	for (; *libs; libs += n) {
		libs += strspn(libs, " ,\"");
		n = strcspn(libs, " ,\"");
		if (n == 7 && strncmp(libs, "pg_cron", 7) == 0)
			return true;
	}
	return false;
}

/*
 * Can this server run pg_cron jobs in this database? Fills available and
 * note; *have_schema tells whether the extension is created here. The
 * settings are read when the user may read them (a superuser or
 * pg_read_all_settings: pg_settings hides them from the others); a user
 * who may not learns what is missing from CREATE EXTENSION instead.
 */
static int probe(struct pg_ctx *c, struct tl_native_ttl_state *st, bool *have_schema,
		 struct tl_buf *why)
{
	static const char sql[] =
		"SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron'),"
		" (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'),"
		" (SELECT setting FROM pg_settings WHERE name = 'cron.database_name'),"
		" current_database()::text, to_regnamespace('cron') IS NOT NULL,"
		" CASE WHEN to_regnamespace('cron') IS NULL THEN true"
		" ELSE has_schema_privilege('cron', 'USAGE') END";
	PGresult *res;
	int r = pg_exec(c, sql, 0, NULL, &res, "native TTL: looking for pg_cron", why);

	if (r < 0)
		return r;
	*have_schema = PQgetvalue(res, 0, 4)[0] == 't';
	if (PQgetvalue(res, 0, 0)[0] != 't')
		snprintf(st->note, sizeof(st->note),
			 "the server has no pg_cron extension (Debian: postgresql-15-cron)");
	else if (!PQgetisnull(res, 0, 1) && !preloads_cron(PQgetvalue(res, 0, 1)))
		snprintf(st->note, sizeof(st->note),
			 "pg_cron is not loaded by the server (shared_preload_libraries ="
			 " 'pg_cron' in postgresql.conf, then a restart)");
	else if (!PQgetisnull(res, 0, 2) && strcmp(PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3)))
		snprintf(st->note, sizeof(st->note),
			 "pg_cron runs jobs in database %.63s (cron.database_name), not in"
			 " this one",
			 PQgetvalue(res, 0, 2));
	else if (PQgetvalue(res, 0, 5)[0] != 't')
		snprintf(st->note, sizeof(st->note),
			 "this database user may not use pg_cron (a superuser can GRANT USAGE ON"
			 " SCHEMA cron to it)");
	else
		st->available = true;
	PQclear(res);
	return 0;
}

/* The job and its last run, when the extension is created here. */
static int read_job(struct pg_ctx *c, struct tl_native_ttl_state *st, struct tl_buf *why)
{
	static const char sql[] =
		"SELECT j.jobid, j.schedule, j.command, j.active, d.status,"
		" to_char(d.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		" d.return_message FROM cron.job j LEFT JOIN LATERAL (SELECT status,"
		" start_time, return_message FROM cron.job_run_details r WHERE r.jobid ="
		" j.jobid ORDER BY runid DESC LIMIT 1) d ON true"
		" WHERE j.jobname = $1 AND j.username = current_user";
	const char *params[1] = {JOB_NAME};
	PGresult *res;
	int r = pg_exec(c, sql, 1, params, &res, "native TTL: reading the pg_cron job", why);

	if (r < 0)
		return r;
	if (PQntuples(res) > 0) {
		st->jobid = pg_get_i64(res, 0, 0);
		st->active = PQgetvalue(res, 0, 3)[0] == 't';
		copy_field(st->schedule, sizeof(st->schedule), res, 0, 1);
		copy_field(st->command, sizeof(st->command), res, 0, 2);
		copy_field(st->last_status, sizeof(st->last_status), res, 0, 4);
		copy_field(st->last_start, sizeof(st->last_start), res, 0, 5);
		copy_field(st->last_message, sizeof(st->last_message), res, 0, 6);
	}
	PQclear(res);
	return 0;
}

int pg_native_ttl_state(void *ctx, struct tl_native_ttl_state *out, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	bool have_schema = false;
	int r = pg_ensure(c, why);

	if (r == 0)
		r = probe(c, out, &have_schema, why);
	if (r == 0 && out->available && have_schema)
		r = read_job(c, out, why);
	return r;
}

/* Removes the job (and the procedure) when there is one. */
static int remove_job(struct pg_ctx *c, struct tl_buf *report, struct tl_buf *why)
{
	const char *params[1] = {JOB_NAME};
	PGresult *res;
	int r, i;

	r = pg_exec(c,
		    "SELECT cron.unschedule(jobid), jobid FROM cron.job WHERE jobname = $1"
		    " AND username = current_user",
		    1, params, &res, "native TTL: removing the pg_cron job", why);
	if (r < 0)
		return r;
	for (i = 0; i < PQntuples(res); i++)
		tl_buf_printf(report,
			      "native TTL: pg_cron job %lld removed; tally-expirer from cron"
			      " expires this store\n",
			      (long long)pg_get_i64(res, i, 1));
	PQclear(res);
	return pg_exec(c,
		       "DROP PROCEDURE IF EXISTS tally_native_expire(bigint, bigint, boolean,"
		       " bigint)",
		       0, NULL, NULL, "native TTL: dropping the procedure", why);
}

int pg_native_ttl(void *ctx, const struct tl_native_ttl *want, struct tl_buf *report,
		  struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	struct tl_native_ttl_state st;
	struct tl_buf proc, msg;
	char command[160], lock[80];
	const char *params[3];
	bool have_schema = false;
	PGresult *res;
	int r;

	memset(&st, 0, sizeof(st));
	r = pg_ensure(c, why);
	if (r == 0)
		r = probe(c, &st, &have_schema, why);
	if (r < 0)
		return r;
	if (!want->enable || (want->metering_ttl <= 0 && want->event_ttl <= 0)) {
		if (st.available && have_schema)
			r = remove_job(c, report, why);
		if (r == 0 && want->enable)
			tl_buf_puts(report, "native TTL: nothing to expire (both TTLs keep"
					    " forever): no pg_cron job\n");
		return r;
	}
	if (!st.available) {
		tl_buf_printf(report,
			      "native TTL: not available: %s; tally-expirer from cron stays the"
			      " way to expire this store\n",
			      st.note);
		return 0;
	}
	snprintf(command, sizeof(command), "CALL tally_native_expire(%lld, %lld, %s, %d)",
		 (long long)(want->metering_ttl > 0 ? want->metering_ttl : 0),
		 (long long)(want->event_ttl > 0 ? want->event_ttl : 0),
		 want->samples_only ? "true" : "false", JOB_BATCH);
	tl_buf_init(&proc);
	tl_buf_init(&msg);
	r = proc_text(&proc);
	if (r < 0)
		goto out;
	/* Under the schema lock: two dbsyncs at once replace the procedure in turn. */
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)",
		 (long long)PG_LOCK_SCHEMA);
	r = pg_exec(c, "BEGIN", 0, NULL, NULL, "native TTL", why);
	if (r == 0)
		r = pg_exec(c, lock, 0, NULL, NULL, "native TTL: taking the schema lock", why);
	if (r < 0)
		goto out;
	/* Creating the extension needs a superuser (pg_cron 1.4 is not trusted):
	 * without one, native TTL waits and tally-expirer goes on. */
	if (!have_schema && pg_exec(c, "CREATE EXTENSION IF NOT EXISTS pg_cron", 0, NULL, NULL,
				    "cannot create the extension pg_cron", &msg) < 0) {
		r = c->broken ? -EAGAIN : 0;
		if (r < 0)
			tl_buf_puts(why, msg.data ? msg.data : "the connection was lost");
		else
			tl_buf_printf(report,
				      "native TTL: not available: %s (a superuser must run CREATE"
				      " EXTENSION pg_cron in this database); tally-expirer from"
				      " cron stays the way to expire this store\n",
				      msg.data ? msg.data : "");
		goto out;
	}
	r = pg_exec(c, proc.data, 0, NULL, NULL, "native TTL: creating the procedure", why);
	params[0] = JOB_NAME;
	params[1] = want->schedule;
	params[2] = command;
	/* The same name and user: pg_cron replaces the job's schedule and command. */
	if (r == 0)
		r = pg_exec(c, "SELECT cron.schedule($1, $2, $3)", 3, params, &res,
			    "native TTL: pg_cron refused the job", why);
	if (r < 0)
		goto out;
	st.jobid = pg_get_i64(res, 0, 0);
	PQclear(res);
	r = pg_exec(c, "COMMIT", 0, NULL, NULL, "native TTL", why);
	if (r == 0)
		tl_buf_printf(report, "native TTL: pg_cron job %lld, schedule '%s', runs %s\n",
			      (long long)st.jobid, want->schedule, command);
out:
	if (r < 0 || msg.len)
		pg_rollback(c);
	tl_buf_fini(&proc);
	tl_buf_fini(&msg);
	return r;
}
