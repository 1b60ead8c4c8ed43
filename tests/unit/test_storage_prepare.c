/*
 * tl_storage_prepare_embedded: the schema of a new SQLite database is created
 * on first use (tallyd's start, scripts/run), and nothing else is touched: a
 * database with a schema, a server backend, a folder that does not exist.
 * Files live in a temporary folder removed at the end.
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
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "storage/storage.h"

static char tmpdir[256];

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/tally-test-prepare-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* prepare NAME: tl_storage_prepare_embedded on sqlite:///<tmpdir>/NAME. */
static int prepare(const char *name, struct tl_buf *report, struct tl_buf *why)
{
	char url[512];

	snprintf(url, sizeof(url), "sqlite://%s/%s", tmpdir, name);
	tl_buf_reset(report);
	tl_buf_reset(why);
	return tl_storage_prepare_embedded(url, report, why);
}

/* The schema state of sqlite:///<tmpdir>/NAME. */
static int schema_of(const char *name, struct tl_schema_state *st)
{
	struct tl_storage *s = NULL;
	char url[512];
	int r;

	snprintf(url, sizeof(url), "sqlite://%s/%s", tmpdir, name);
	r = tl_storage_open(url, NULL, &s, NULL);
	if (r == 0)
		r = tl_storage_schema(s, st, NULL);
	tl_storage_close(s);
	return r;
}

static void test_new_file(void **state)
{
	struct tl_schema_state st;
	struct tl_buf report, why;

	(void)state;
	tl_buf_init(&report);
	tl_buf_init(&why);
	assert_int_equal(prepare("new.db", &report, &why), 1);
	assert_int_equal(tl_buf_error(&report), 0);
	assert_non_null(strstr(report.data, "created the schema of the new SQLite database "));
	assert_non_null(strstr(report.data, "/new.db (applied 001_"));
	assert_null(strchr(report.data, '\n'));
	assert_int_equal(schema_of("new.db", &st), 0);
	assert_int_equal(st.current, st.required);
	/* The second start finds the schema and does nothing. */
	assert_int_equal(prepare("new.db", &report, &why), 0);
	assert_int_equal(report.len, 0);
	tl_buf_fini(&report);
	tl_buf_fini(&why);
}

static void test_empty_file(void **state)
{
	struct tl_schema_state st;
	struct tl_buf report, why;
	char path[300];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/empty.db", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	tl_buf_init(&report);
	tl_buf_init(&why);
	assert_int_equal(prepare("empty.db", &report, &why), 1);
	assert_int_equal(schema_of("empty.db", &st), 0);
	assert_int_equal(st.current, st.required);
	tl_buf_fini(&report);
	tl_buf_fini(&why);
}

/* A schema this build does not know is left alone (the start-up check refuses it). */
static void test_other_schema_untouched(void **state)
{
	struct tl_schema_state st;
	struct tl_buf report, why;
	char cmd[400];

	(void)state;
	tl_buf_init(&report);
	tl_buf_init(&why);
	assert_int_equal(prepare("newer.db", &report, &why), 1);
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s/newer.db' \"INSERT INTO tally_schema_migrations VALUES "
		 "(999, 'future', 0)\"",
		 tmpdir);
	if (system(cmd) != 0) {
		tl_buf_fini(&report);
		tl_buf_fini(&why);
		skip(); /* no sqlite3 shell */
	}
	assert_int_equal(prepare("newer.db", &report, &why), 0);
	assert_int_equal(report.len, 0);
	assert_int_equal(schema_of("newer.db", &st), 0);
	assert_int_equal(st.current, 999);
	tl_buf_fini(&report);
	tl_buf_fini(&why);
}

static void test_missing_folder(void **state)
{
	struct tl_buf report, why;

	(void)state;
	tl_buf_init(&report);
	tl_buf_init(&why);
	assert_int_equal(prepare("no/such/folder/x.db", &report, &why), -EINVAL);
	assert_int_equal(report.len, 0);
	assert_non_null(strstr(why.data, "/no/such/folder/x.db: "));
	assert_non_null(strstr(why.data, "does not exist"));
	tl_buf_fini(&report);
	tl_buf_fini(&why);
}

/* Server backends are never contacted: their schema is tallyctl dbsync's. */
static void test_server_backend(void **state)
{
	struct tl_buf report, why;

	(void)state;
	tl_buf_init(&report);
	tl_buf_init(&why);
	assert_int_equal(
		tl_storage_prepare_embedded("postgresql://u:secret@127.0.0.1:1/db", &report, &why),
		0);
	assert_int_equal(report.len + why.len, 0);
	assert_int_equal(tl_storage_prepare_embedded("mongodb://127.0.0.1:1/db", NULL, NULL), 0);
	tl_buf_fini(&report);
	tl_buf_fini(&why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_file),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_other_schema_untouched),
		cmocka_unit_test(test_missing_folder),
		cmocka_unit_test(test_server_backend),
	};
	return cmocka_run_group_tests_name("storage_prepare", tests, group_setup, group_teardown);
}
