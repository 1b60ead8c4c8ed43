/* Unit tests for common/ini.c: oslo.config's INI rules, corner by corner. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/ini.h"

/* Parses text as "t.conf"; returns the status, why in *msg (static). */
static int parse(struct tl_ini *ini, const char *text, size_t len, const char **msg)
{
	static char last[256];
	struct tl_buf why;
	int rc;

	tl_buf_init(&why);
	rc = tl_ini_parse(ini, "t.conf", text, len, &why);
	snprintf(last, sizeof(last), "%s", why.len ? why.data : "");
	tl_buf_fini(&why);
	if (msg)
		*msg = last;
	return rc;
}

static const char *get(struct tl_ini *ini, const char *sec, const char *key)
{
	struct tl_ini_entry *e = tl_ini_get(ini, sec, key);

	return e ? e->value : NULL;
}

static void test_basics(void **state)
{
	static const char text[] = "# comment\n"
				   "; also a comment\n"
				   "[DEFAULT]\n"
				   "a = 1\n"
				   "b=2\n"
				   "c: x=y\n"
				   "d = e: f\n"
				   "empty =\n"
				   "inline = v # not a comment\n"
				   "q1 = \"quoted value\"\n"
				   "q2 = 'single'\n"
				   "q3 = \"mismatched'\n"
				   "q4 = \"\n"
				   "spaced   =    v  \t\n"
				   "[Database]\n"
				   "connection = sqlite://\n";
	struct tl_ini ini;

	(void)state;
	tl_ini_init(&ini);
	assert_int_equal(parse(&ini, text, sizeof(text) - 1, NULL), 0);
	assert_string_equal(get(&ini, "DEFAULT", "a"), "1");
	assert_string_equal(get(&ini, "DEFAULT", "b"), "2");
	/* the first of ':' and '=' splits */
	assert_string_equal(get(&ini, "DEFAULT", "c"), "x=y");
	assert_string_equal(get(&ini, "DEFAULT", "d"), "e: f");
	assert_string_equal(get(&ini, "DEFAULT", "empty"), "");
	assert_string_equal(get(&ini, "DEFAULT", "inline"), "v # not a comment");
	assert_string_equal(get(&ini, "DEFAULT", "q1"), "quoted value");
	assert_string_equal(get(&ini, "DEFAULT", "q2"), "single");
	assert_string_equal(get(&ini, "DEFAULT", "q3"), "\"mismatched'");
	assert_string_equal(get(&ini, "DEFAULT", "q4"), "");
	assert_string_equal(get(&ini, "DEFAULT", "spaced"), "v");
	/* group names: lower case, DEFAULT apart */
	assert_string_equal(get(&ini, "database", "connection"), "sqlite://");
	assert_string_equal(get(&ini, "DATABASE", "connection"), "sqlite://");
	assert_null(get(&ini, "default", "a"));
	assert_null(get(&ini, "DEFAULT", "A"));
	assert_true(tl_ini_has_section(&ini, "database"));
	assert_false(tl_ini_has_section(&ini, "api"));
	assert_int_equal(ini.lines, 16);
	tl_ini_fini(&ini);
}

static void test_continuation_and_multi(void **state)
{
	static const char text[] = "[DEFAULT]\n"
				   "dispatcher = database\n"
				   "dispatcher = file\n"
				   "topics = a,\n"
				   "   b,\n"
				   "\tc\n"
				   "x = 1\n"
				   "    # indented: part of the value\n"
				   "\n"
				   "y = 2\n"
				   "   \n"
				   "z = 3\n";
	struct tl_ini_entry *all[4];
	struct tl_ini ini;

	(void)state;
	tl_ini_init(&ini);
	assert_int_equal(parse(&ini, text, sizeof(text) - 1, NULL), 0);
	assert_int_equal(tl_ini_get_all(&ini, "DEFAULT", "dispatcher", all, 4), 2);
	assert_string_equal(all[0]->value, "database");
	assert_string_equal(all[1]->value, "file");
	assert_int_equal(all[1]->line, 3);
	assert_true(all[0]->used);
	/* single-valued: the last wins */
	assert_string_equal(get(&ini, "DEFAULT", "dispatcher"), "file");
	assert_string_equal(get(&ini, "DEFAULT", "topics"), "a,\nb,\nc");
	assert_string_equal(get(&ini, "DEFAULT", "x"), "1\n# indented: part of the value");
	assert_string_equal(get(&ini, "DEFAULT", "y"), "2");
	assert_string_equal(get(&ini, "DEFAULT", "z"), "3");
	tl_ini_fini(&ini);
}

static void test_line_ends(void **state)
{
	static const char crlf[] = "\xef\xbb\xbf[DEFAULT]\r\na = 1\r\nb = 2\rc = 3";
	struct tl_ini ini;

	(void)state;
	tl_ini_init(&ini);
	assert_int_equal(parse(&ini, crlf, sizeof(crlf) - 1, NULL), 0);
	assert_string_equal(get(&ini, "DEFAULT", "a"), "1");
	assert_string_equal(get(&ini, "DEFAULT", "b"), "2");
	assert_string_equal(get(&ini, "DEFAULT", "c"), "3"); /* no final newline */
	tl_ini_fini(&ini);
}

/* Later files override earlier ones; multi values add up. */
static void test_two_files(void **state)
{
	static const char a[] = "[collector]\nworkers = 2\n[DEFAULT]\ndispatcher = database\n";
	static const char b[] = "[COLLECTOR]\nworkers = 8\n[DEFAULT]\ndispatcher = gnocchi\n";
	struct tl_ini_entry *all[4];
	struct tl_ini ini;

	(void)state;
	tl_ini_init(&ini);
	assert_int_equal(parse(&ini, a, sizeof(a) - 1, NULL), 0);
	assert_int_equal(tl_ini_parse(&ini, "u.conf", b, sizeof(b) - 1, NULL), 0);
	assert_string_equal(get(&ini, "collector", "workers"), "8");
	assert_string_equal(tl_ini_get(&ini, "collector", "workers")->file, "u.conf");
	assert_int_equal(tl_ini_get_all(&ini, "DEFAULT", "dispatcher", all, 4), 2);
	assert_int_equal(ini.n_files, 2);
	tl_ini_fini(&ini);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"a = 1\n", "t.conf:1: an assignment before any [section]"},
		{"[DEFAULT] # c\n", "t.conf:1: a section header that does not end with ']'"},
		{"[DEFAULT]\n[]\n", "t.conf:2: a section header with no name"},
		{"[DEFAULT]\n  x\n", "t.conf:2: a continuation line with no key before it"},
		/* a blank line ends the value: what follows continues nothing */
		{"[DEFAULT]\na = 1\n\n  more\n", "t.conf:4: a continuation line with no key"},
		/* so does a comment */
		{"[DEFAULT]\na = 1\n# c\n  more\n", "t.conf:4: a continuation line with no key"},
		{"[DEFAULT]\njust words\n",
		 "t.conf:2: neither a section, a comment nor key = value"},
		{"[DEFAULT]\n = v\n", "t.conf:2: a continuation line"},
		{"[DEFAULT]\n= v\n", "t.conf:2: an assignment with an empty key"},
		{"[DEFAULT]\na = \xff\n", "t.conf:0: not UTF-8"},
	};
	struct tl_ini ini;
	const char *msg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tl_ini_init(&ini);
		assert_int_equal(parse(&ini, bad[i].text, strlen(bad[i].text), &msg), -EINVAL);
		if (strncmp(msg, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("case %zu: '%s', expected '%s'", i, msg, bad[i].msg);
		tl_ini_fini(&ini);
	}
	/* a NUL byte: not a text file; the value is never quoted */
	tl_ini_init(&ini);
	assert_int_equal(parse(&ini, "[DEFAULT]\na = secret\0x\n", 22, &msg), -EINVAL);
	assert_string_equal(msg, "t.conf:0: holds a NUL byte: not a text file");
	tl_ini_fini(&ini);
	/* a missing file */
	tl_ini_init(&ini);
	assert_int_equal(tl_ini_load_file(&ini, "/nonexistent/ceilometer.conf", NULL), -ENOENT);
	tl_ini_fini(&ini);
}

/* Many assignments: capped, no crash. */
static void test_cap(void **state)
{
	struct tl_buf text;
	struct tl_ini ini;
	const char *msg;
	unsigned i;

	(void)state;
	tl_buf_init(&text);
	tl_buf_puts(&text, "[DEFAULT]\n");
	for (i = 0; i <= TL_INI_MAX_ENTRIES; i++)
		tl_buf_puts(&text, "k=v\n");
	tl_ini_init(&ini);
	assert_int_equal(parse(&ini, text.data, text.len, &msg), -E2BIG);
	assert_string_equal(msg, "t.conf:100002: too many assignments");
	assert_int_equal(ini.n, TL_INI_MAX_ENTRIES);
	tl_ini_fini(&ini);
	tl_buf_fini(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),	  cmocka_unit_test(test_continuation_and_multi),
		cmocka_unit_test(test_line_ends), cmocka_unit_test(test_two_files),
		cmocka_unit_test(test_errors),	  cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests_name("ini", tests, NULL, NULL);
}
