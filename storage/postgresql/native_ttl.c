/*
 * native_ttl.c — expiry inside the database (storage.native_ttl): a
 * PL/pgSQL procedure that does what expire.c does, scheduled by the
 * server's pg_cron extension (Debian's postgresql-15-cron), installed by
 * tallyctl dbsync and reported by tallyctl status and dbsync.
 *
 * The procedure follows expire.c step by step (whole partitions past the
 * cut-off, then the straddling rows in batches, then the orphans by key
 * ranges, then events), each step its own transaction (a procedure may
 * COMMIT when CALLed at top level, as pg_cron does), taking the writers'
 * lock only where expire.c does and bumping tally_cache_epoch where it
 * does. It takes the expirer lock (PG_LOCK_EXPIRER) without waiting, so a
 * tally-expirer run and the job never work at once: the one that comes
 * second skips its run.
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

#include "storage/postgresql/pg_internal.h"

/* pg_cron's job name (one job per database user). */
#define JOB_NAME  "tally_native_ttl"
#define JOB_BATCH 10000

/*
 * The procedure. @X@, @S@ and @E@ stand for the expirer, samples and
 * events lock keys (pg_internal.h), written in by proc_text().
 */
static const char proc_template[] =
	"CREATE OR REPLACE PROCEDURE tally_native_expire(p_metering_ttl bigint,"
	" p_event_ttl bigint, p_samples_only boolean, p_batch bigint)\n"
	"LANGUAGE plpgsql AS $tally$\n"
	"DECLARE\n"
	"  v_parts text[]; v_part text; v_before timestamp;\n"
	"  v_n bigint; v_last bigint; v_max bigint; v_keys bigint;\n"
	"BEGIN\n"
	/* One expirer at a time: tally-expirer holds the same lock. */
	"  IF NOT pg_try_advisory_lock(@X@) THEN\n"
	"    RAISE NOTICE 'tally: another expirer holds the lock; this run does nothing';\n"
	"    RETURN;\n"
	"  END IF;\n"
	"  PERFORM set_config('statement_timeout', '0', false);\n"
	"  IF p_metering_ttl > 0 THEN\n"
	"    v_before := (clock_timestamp() AT TIME ZONE 'UTC')"
	" - make_interval(secs => p_metering_ttl);\n"
	/* Whole partitions entirely below the cut-off, oldest first, each in
	 * its own transaction with a lock timeout (a busy one waits for the
	 * next run); the metadata documents their rows name become candidates. */
	"    v_parts := ARRAY(SELECT k.relname::text FROM pg_inherits i"
	" JOIN pg_class k ON k.oid = i.inhrelid"
	" CROSS JOIN LATERAL regexp_match(pg_get_expr(k.relpartbound, k.oid),"
	" 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS m"
	" WHERE i.inhparent = to_regclass('sample') AND m[2]::timestamp <= v_before"
	" ORDER BY m[1]::timestamp);\n"
	"    FOREACH v_part IN ARRAY v_parts LOOP\n"
	"      CONTINUE WHEN v_part !~ '^[a-z0-9_]{1,63}$';\n"
	"      BEGIN\n"
	"        PERFORM set_config('lock_timeout', '5s', true);\n"
	"        EXECUTE format('WITH RECURSIVE t(m) AS (SELECT min(metadata_id) FROM %I"
	" UNION ALL SELECT (SELECT min(metadata_id) FROM %I WHERE metadata_id > t.m)"
	" FROM t WHERE t.m IS NOT NULL) INSERT INTO tally_expire_candidate SELECT m"
	" FROM t WHERE m IS NOT NULL ON CONFLICT DO NOTHING', v_part, v_part);\n"
	"        EXECUTE format('DROP TABLE %I', v_part);\n"
	"        PERFORM nextval('tally_cache_epoch');\n"
	"      EXCEPTION WHEN lock_not_available THEN\n"
	"        RAISE NOTICE 'tally: partition % is busy; the next run drops it', v_part;\n"
	"      END;\n"
	"      COMMIT;\n"
	"    END LOOP;\n"
	/* The straddling partition and sample_default: the oldest rows in batches. */
	"    LOOP\n"
	"      WITH d AS (DELETE FROM sample s USING (SELECT message_id, \"timestamp\""
	" FROM sample WHERE \"timestamp\" < v_before LIMIT p_batch) k"
	" WHERE s.\"timestamp\" < v_before AND s.message_id = k.message_id"
	" AND s.\"timestamp\" = k.\"timestamp\" RETURNING s.metadata_id),"
	" c AS (INSERT INTO tally_expire_candidate SELECT DISTINCT metadata_id FROM d"
	" WHERE metadata_id IS NOT NULL ON CONFLICT DO NOTHING)"
	" SELECT count(*) INTO v_n FROM d;\n"
	"      COMMIT;\n"
	"      EXIT WHEN v_n < p_batch;\n"
	"    END LOOP;\n"
	"    IF NOT p_samples_only THEN\n"
	/* Resources whose last sample is gone, with their meter pairs. */
	"      LOOP\n"
	"        EXIT WHEN NOT EXISTS (SELECT 1 FROM resource"
	" WHERE last_sample_timestamp < v_before);\n"
	"        PERFORM pg_advisory_xact_lock(@S@);\n"
	"        WITH r AS (DELETE FROM resource WHERE id IN (SELECT id FROM resource"
	" WHERE last_sample_timestamp < v_before LIMIT p_batch) RETURNING id, metadata_id),"
	" m AS (DELETE FROM resource_meter x USING r WHERE x.resource_ref = r.id),"
	" c AS (INSERT INTO tally_expire_candidate SELECT DISTINCT metadata_id FROM r"
	" WHERE metadata_id IS NOT NULL ON CONFLICT DO NOTHING)"
	" SELECT count(*) INTO v_n FROM r;\n"
	"        IF v_n > 0 THEN PERFORM nextval('tally_cache_epoch'); END IF;\n"
	"        COMMIT;\n"
	"        EXIT WHEN v_n < p_batch;\n"
	"      END LOOP;\n"
	/* Meter pairs of living resources that lost their samples (expire.c). */
	"      v_last := -1;\n"
	"      WHILE EXISTS (SELECT 1 FROM resource_meter WHERE last_timestamp < v_before"
	" AND resource_ref > v_last) LOOP\n"
	"        PERFORM pg_advisory_xact_lock(@S@);\n"
	"        WITH k AS (SELECT DISTINCT resource_ref FROM resource_meter"
	" WHERE last_timestamp < v_before AND resource_ref > v_last"
	" ORDER BY resource_ref LIMIT p_batch),"
	" d AS (DELETE FROM resource_meter rm USING k WHERE rm.resource_ref ="
	" k.resource_ref AND rm.last_timestamp < v_before AND NOT EXISTS"
	" (SELECT 1 FROM sample s WHERE s.resource_ref = rm.resource_ref"
	" AND s.meter_id = rm.meter_id) RETURNING 1),"
	" u AS (UPDATE resource_meter rm SET (last_timestamp, user_id, project_id,"
	" source) = (SELECT s.\"timestamp\", s.user_id, s.project_id, s.source"
	" FROM sample s WHERE s.resource_ref = rm.resource_ref"
	" AND s.meter_id = rm.meter_id"
	" ORDER BY s.\"timestamp\" DESC, s.message_id DESC LIMIT 1)"
	" FROM k WHERE rm.resource_ref = k.resource_ref"
	" AND rm.last_timestamp < v_before AND EXISTS (SELECT 1 FROM sample s"
	" WHERE s.resource_ref = rm.resource_ref AND s.meter_id = rm.meter_id)"
	" RETURNING 1)"
	" SELECT (SELECT count(*) FROM d), (SELECT max(resource_ref) FROM k),"
	" (SELECT count(*) FROM k) INTO v_n, v_max, v_keys;\n"
	"        IF v_n > 0 THEN PERFORM nextval('tally_cache_epoch'); END IF;\n"
	"        COMMIT;\n"
	"        EXIT WHEN v_keys < p_batch;\n"
	"        v_last := v_max;\n"
	"      END LOOP;\n"
	/* First sample times of living resources whose first sample went. */
	"      v_last := -1;\n"
	"      LOOP\n"
	"        WITH k AS (SELECT id FROM resource WHERE first_sample_timestamp < v_before"
	" AND id > v_last ORDER BY id LIMIT p_batch),"
	" u AS (UPDATE resource r SET first_sample_timestamp = coalesce("
	"(SELECT min(s.\"timestamp\") FROM sample s WHERE s.resource_ref = r.id"
	" AND s.\"timestamp\" >= v_before AND s.\"timestamp\" < v_before + interval '1 day'),"
	"(SELECT min(s.\"timestamp\") FROM sample s WHERE s.resource_ref = r.id),"
	" r.first_sample_timestamp) FROM k WHERE r.id = k.id RETURNING 1)"
	" SELECT (SELECT max(id) FROM k), (SELECT count(*) FROM k) INTO v_max, v_keys;\n"
	"        COMMIT;\n"
	"        EXIT WHEN v_keys < p_batch;\n"
	"        v_last := v_max;\n"
	"      END LOOP;\n"
	/* Meters no pair names. */
	"      IF EXISTS (SELECT 1 FROM meter m WHERE NOT EXISTS (SELECT 1"
	" FROM resource_meter rm WHERE rm.meter_id = m.id)) THEN\n"
	"        PERFORM pg_advisory_xact_lock(@S@);\n"
	"        WITH d AS (DELETE FROM meter m WHERE NOT EXISTS (SELECT 1 FROM"
	" resource_meter rm WHERE rm.meter_id = m.id) RETURNING 1)"
	" SELECT count(*) INTO v_n FROM d;\n"
	"        IF v_n > 0 THEN PERFORM nextval('tally_cache_epoch'); END IF;\n"
	"        COMMIT;\n"
	"      END IF;\n"
	/* Metadata documents noted above that nothing points to any more. */
	"      v_last := -1;\n"
	"      WHILE EXISTS (SELECT 1 FROM tally_expire_candidate"
	" WHERE metadata_id > v_last) LOOP\n"
	"        PERFORM pg_advisory_xact_lock(@S@);\n"
	"        WITH k AS (DELETE FROM tally_expire_candidate WHERE metadata_id IN"
	" (SELECT metadata_id FROM tally_expire_candidate WHERE metadata_id > v_last"
	" ORDER BY metadata_id LIMIT p_batch) RETURNING metadata_id),"
	" d AS (DELETE FROM metadata md USING k WHERE md.id = k.metadata_id AND"
	" NOT EXISTS (SELECT 1 FROM resource r WHERE r.metadata_id = md.id) AND"
	" NOT EXISTS (SELECT 1 FROM sample s WHERE s.metadata_id = md.id) RETURNING 1)"
	" SELECT (SELECT count(*) FROM d), (SELECT max(metadata_id) FROM k),"
	" (SELECT count(*) FROM k) INTO v_n, v_max, v_keys;\n"
	"        IF v_n > 0 THEN PERFORM nextval('tally_cache_epoch'); END IF;\n"
	"        COMMIT;\n"
	"        EXIT WHEN v_keys < p_batch;\n"
	"        v_last := v_max;\n"
	"      END LOOP;\n"
	"    END IF;\n"
	"  END IF;\n"
	/* Events and their traits, oldest first, then event types left empty. */
	"  IF p_event_ttl > 0 THEN\n"
	"    v_before := (clock_timestamp() AT TIME ZONE 'UTC')"
	" - make_interval(secs => p_event_ttl);\n"
	"    LOOP\n"
	"      WITH e AS (DELETE FROM event WHERE id IN (SELECT id FROM event"
	" WHERE generated < v_before ORDER BY generated LIMIT p_batch) RETURNING id),"
	" t AS (DELETE FROM trait x USING e WHERE x.event_id = e.id)"
	" SELECT count(*) INTO v_n FROM e;\n"
	"      COMMIT;\n"
	"      EXIT WHEN v_n < p_batch;\n"
	"    END LOOP;\n"
	"    IF EXISTS (SELECT 1 FROM event_type et WHERE NOT EXISTS (SELECT 1"
	" FROM event e WHERE e.event_type_id = et.id)) THEN\n"
	"      PERFORM pg_advisory_xact_lock(@E@);\n"
	"      WITH d AS (DELETE FROM event_type et WHERE NOT EXISTS (SELECT 1 FROM"
	" event e WHERE e.event_type_id = et.id) RETURNING 1) SELECT count(*) INTO v_n FROM d;\n"
	"      IF v_n > 0 THEN PERFORM nextval('tally_cache_epoch'); END IF;\n"
	"      COMMIT;\n"
	"    END IF;\n"
	"  END IF;\n"
	"  PERFORM pg_advisory_unlock(@X@);\n"
	"END\n"
	"$tally$";

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

/*
 * Can this server run pg_cron jobs in this database? Fills available and
 * note; *have_schema tells whether the extension is created here.
 */
static int probe(struct pg_ctx *c, struct tl_native_ttl_state *st, bool *have_schema,
		 struct tl_buf *why)
{
	/* The launcher is the background worker pg_cron starts when it is in
	 * shared_preload_libraries; it connects to cron.database_name. */
	static const char sql[] =
		"SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron'),"
		" (SELECT datname::text FROM pg_stat_activity WHERE backend_type ="
		" 'pg_cron launcher' LIMIT 1), current_database()::text,"
		" to_regclass('cron.job') IS NOT NULL, (SELECT setting ~ '(^|[ ,\"])pg_cron($|[ "
		",\"])'"
		" FROM pg_settings WHERE name = 'shared_preload_libraries')";
	PGresult *res;
	int r = pg_exec(c, sql, 0, NULL, &res, "native TTL: looking for pg_cron", why);

	if (r < 0)
		return r;
	*have_schema = PQgetvalue(res, 0, 3)[0] == 't';
	if (PQgetvalue(res, 0, 0)[0] != 't')
		snprintf(st->note, sizeof(st->note),
			 "the server has no pg_cron extension (Debian: postgresql-15-cron)");
	else if (PQgetisnull(res, 0, 1) && PQgetvalue(res, 0, 4)[0] == 't')
		snprintf(st->note, sizeof(st->note),
			 "pg_cron is loaded but its launcher is not running (does"
			 " cron.database_name name a database? see the server log)");
	else if (PQgetisnull(res, 0, 1))
		snprintf(st->note, sizeof(st->note),
			 "pg_cron is not loaded by the server (shared_preload_libraries ="
			 " 'pg_cron' in postgresql.conf, then a restart)");
	else if (strcmp(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2)) != 0)
		snprintf(st->note, sizeof(st->note),
			 "pg_cron runs jobs in database %.63s (cron.database_name), not in"
			 " this one",
			 PQgetvalue(res, 0, 1));
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
