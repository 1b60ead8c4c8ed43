/* Unit tests for common/log.c. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

/* ---------------------------------------------------------------- stderr capture */

static int saved_stderr = -1;
static FILE *capture_file;

/* Sends fd 2 to a temporary file until capture_end(). */
static void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Restores fd 2 and returns what was written (malloc'd, NUL-terminated). */
static char *capture_end(void)
{
	long len;
	char *text;

	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	saved_stderr = -1;
	/* fd 2 was a duplicate of the file's descriptor: they share the offset. */
	len = (long)lseek(fileno(capture_file), 0, SEEK_END);
	assert_true(len >= 0);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(pread(fileno(capture_file), text, (size_t)len, 0), len);
	fclose(capture_file);
	capture_file = NULL;
	return text;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int reset(void **state)
{
	(void)state;
	assert_int_equal(tl_log_setup(TL_LOG_INFO, TL_LOG_STDERR, "test_log"), 0);
	return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_levels(void **state)
{
	(void)state;
	assert_int_equal(tl_log_level_parse("err"), TL_LOG_ERR);
	assert_int_equal(tl_log_level_parse("error"), TL_LOG_ERR);
	assert_int_equal(tl_log_level_parse("warning"), TL_LOG_WARNING);
	assert_int_equal(tl_log_level_parse("warn"), TL_LOG_WARNING);
	assert_int_equal(tl_log_level_parse("notice"), TL_LOG_NOTICE);
	assert_int_equal(tl_log_level_parse("info"), TL_LOG_INFO);
	assert_int_equal(tl_log_level_parse("debug"), TL_LOG_DEBUG);
	assert_int_equal(tl_log_level_parse("loud"), -EINVAL);
	assert_int_equal(tl_log_level_parse(""), -EINVAL);
	assert_int_equal(tl_log_level_parse(NULL), -EINVAL);
	assert_string_equal(tl_log_level_name(TL_LOG_ERR), "error");
	assert_string_equal(tl_log_level_name(TL_LOG_WARNING), "warning");
	assert_string_equal(tl_log_level_name(TL_LOG_NOTICE), "notice");
	assert_string_equal(tl_log_level_name(TL_LOG_INFO), "info");
	assert_string_equal(tl_log_level_name(TL_LOG_DEBUG), "debug");
	assert_string_equal(tl_log_level_name(99), "unknown");
	assert_int_equal(tl_log_setup(2, TL_LOG_STDERR, NULL), -EINVAL);
	assert_int_equal(tl_log_setup(8, TL_LOG_STDERR, NULL), -EINVAL);
	assert_int_equal(tl_log_setup(TL_LOG_INFO, (enum tl_log_target)5, NULL), -EINVAL);
}

static int evaluated;

static int side_effect(void)
{
	evaluated++;
	return 42;
}

static void test_filtering(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "test_log"), 0);
	assert_true(tl_log_enabled(TL_LOG_ERR));
	assert_true(tl_log_enabled(TL_LOG_WARNING));
	assert_false(tl_log_enabled(TL_LOG_NOTICE));
	evaluated = 0;
	capture_begin();
	tl_log(TL_LOG_INFO, "hidden %d", side_effect());
	tl_logc(TL_LOG_DEBUG, "c", "hidden %d", side_effect());
	tl_log(TL_LOG_WARNING, "shown %d", side_effect());
	tl_log(TL_LOG_ERR, "also shown");
	out = capture_end();
	/* The level is checked before the arguments are even evaluated. */
	assert_int_equal(evaluated, 1);
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, " warning shown 42\n"));
	assert_non_null(strstr(out, " error also shown\n"));
	assert_null(strstr(out, "hidden"));
	free(out);
}

static void test_format(void **state)
{
	char *out, expect[256];
	regex_t re;

	(void)state;
	capture_begin();
	tl_logc(TL_LOG_WARNING, "dispatcher:gnocchi", "message %s", "here");
	tl_log(TL_LOG_INFO, "no component");
	out = capture_end();
	snprintf(expect, sizeof(expect),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		 "test_log\\[%ld\\] warning \\[dispatcher:gnocchi\\] message here\n"
		 "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		 "test_log\\[%ld\\] info no component\n$",
		 (long)getpid(), (long)getpid());
	assert_int_equal(regcomp(&re, expect, REG_EXTENDED), 0);
	if (regexec(&re, out, 0, NULL, 0) != 0) {
		print_error("unexpected log output:\n%s", out);
		fail();
	}
	regfree(&re);
	free(out);
}

static void test_one_line(void **state)
{
	char *out, *big;
	int saved;

	(void)state;
	big = malloc(10000);
	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	capture_begin();
	errno = ENOENT;
	tl_log(TL_LOG_ERR, "two\nlines\tand\rmore");
	saved = errno;
	tl_log(TL_LOG_ERR, "%s", big);
	out = capture_end();
	/* errno survives logging, so that a caller can log and then use it. */
	assert_int_equal(saved, ENOENT);
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, "two lines and more\n"));
	/* A long message is cut, marked, and still one line of at most 4096 bytes. */
	assert_non_null(strstr(out, "xxx...\n"));
	assert_true(strlen(strchr(out, '\n') + 1) <= 4096);
	free(out);
	free(big);
}

static void test_complain(void **state)
{
	struct tl_complain c = TL_COMPLAIN_INIT;
	int64_t interval;
	char *out;
	int i;

	(void)state;
	capture_begin();
	tl_complain(&c, TL_LOG_ERR, "amqp", "broker down: %s", "refused");
	for (i = 0; i < 5; i++)
		tl_complain(&c, TL_LOG_ERR, "amqp", "broker down: %s", "refused");
	out = capture_end();
	/* Logged when it starts, then silent while the interval runs. */
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, " error [amqp] broker down: refused\n"));
	assert_int_equal(c.suppressed, 5);
	assert_true(c.interval_us == 10LL * 1000000);
	free(out);

	/* The interval ran out: logged again with the count, and the interval doubles. */
	c.next_us = 0;
	capture_begin();
	tl_complain(&c, TL_LOG_ERR, "amqp", "broker down: %s", "refused");
	tl_complain(&c, TL_LOG_ERR, "amqp", "broker down: %s", "refused");
	out = capture_end();
	assert_int_equal(count_lines(out), 1);
	assert_non_null(
		strstr(out, "[amqp] broker down: refused (5 similar messages not logged)\n"));
	assert_true(c.interval_us == 20LL * 1000000);
	assert_int_equal(c.suppressed, 1);
	free(out);

	/* Doubling stops at one day. */
	capture_begin();
	for (i = 0; i < 20; i++) {
		c.next_us = 0;
		tl_complain(&c, TL_LOG_ERR, "amqp", "down");
	}
	out = capture_end();
	assert_int_equal(count_lines(out), 20);
	interval = c.interval_us;
	assert_true(interval == 86400LL * 1000000);
	free(out);

	/* Recovery is logged once. */
	tl_complain(&c, TL_LOG_ERR, "amqp", "down");
	capture_begin();
	tl_complain_release(&c, TL_LOG_NOTICE, "amqp", "broker %s", "back");
	tl_complain_release(&c, TL_LOG_NOTICE, "amqp", "broker %s", "back");
	out = capture_end();
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(
		out, " notice [amqp] broker back (1 failures not logged before recovery)\n"));
	assert_true(c.interval_us == 0);
	assert_int_equal(c.suppressed, 0);
	free(out);

	/* A release without a failure says nothing; a new failure starts over. */
	capture_begin();
	tl_complain_release(&c, TL_LOG_NOTICE, "amqp", "back");
	tl_complain(&c, TL_LOG_ERR, "amqp", "down again");
	out = capture_end();
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "[amqp] down again\n"));
	assert_true(c.interval_us == 10LL * 1000000);
	free(out);
}

static void test_complain_filtered(void **state)
{
	struct tl_complain c = TL_COMPLAIN_INIT;
	char *out;

	(void)state;
	/* Below the level nothing is written, but the state still follows the failure. */
	assert_int_equal(tl_log_setup(TL_LOG_ERR, TL_LOG_STDERR, "test_log"), 0);
	capture_begin();
	tl_complain(&c, TL_LOG_WARNING, NULL, "quiet");
	tl_complain(&c, TL_LOG_WARNING, NULL, "quiet");
	tl_complain_release(&c, TL_LOG_NOTICE, NULL, "quiet back");
	out = capture_end();
	assert_string_equal(out, "");
	assert_true(c.interval_us == 0);
	free(out);
}

static void test_ratelimit(void **state)
{
	struct tl_ratelimit r = TL_RATELIMIT_INIT(3600LL * 1000000);
	uint64_t s = 99;
	int i;

	(void)state;
	assert_true(tl_ratelimit_allow(&r, &s));
	assert_int_equal(s, 0);
	for (i = 0; i < 7; i++)
		assert_false(tl_ratelimit_allow(&r, &s));
	/* The interval ran out: allowed again, with the count of those skipped. */
	atomic_store(&r.next_us, 0);
	assert_true(tl_ratelimit_allow(&r, &s));
	assert_int_equal(s, 7);
	assert_false(tl_ratelimit_allow(&r, NULL));
	atomic_store(&r.next_us, 0);
	assert_true(tl_ratelimit_allow(&r, NULL));
}

#define THREADS 4
#define CALLS	20000

static struct tl_ratelimit shared_rl = TL_RATELIMIT_INIT(3600LL * 1000000);
static _Atomic int allowed;

static void *hammer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < CALLS; i++)
		if (tl_ratelimit_allow(&shared_rl, NULL))
			atomic_fetch_add(&allowed, 1);
	return NULL;
}

static void test_ratelimit_threads(void **state)
{
	pthread_t t[THREADS];
	uint64_t s;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	/* One call per interval wins; every other one is counted, none lost. */
	assert_int_equal(atomic_load(&allowed), 1);
	atomic_store(&shared_rl.next_us, 0);
	assert_true(tl_ratelimit_allow(&shared_rl, &s));
	assert_int_equal(s, THREADS * CALLS - 1);
}

struct writer_arg {
	int id;
};

static void *writer(void *p)
{
	const struct writer_arg *a = p;
	int i;

	for (i = 0; i < 200; i++)
		tl_logc(TL_LOG_INFO, "thread",
			"writer %d line %d ----------------------------------", a->id, i);
	return NULL;
}

static void test_threads_whole_lines(void **state)
{
	struct writer_arg args[THREADS];
	pthread_t t[THREADS];
	char *out, *line, *save = NULL;
	int i, n = 0;

	(void)state;
	capture_begin();
	for (i = 0; i < THREADS; i++) {
		args[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, writer, &args[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	out = capture_end();
	/* Lines of concurrent threads never mix: each is written whole. */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		n++;
		if (!strstr(line, " info [thread] writer ") ||
		    !strstr(line, "----------------------------------") ||
		    strstr(line, "Z test_log[") != strrchr(line, 'Z')) {
			print_error("mixed line: %s\n", line);
			fail();
		}
	}
	assert_int_equal(n, THREADS * 200);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_levels, reset),
		cmocka_unit_test_setup(test_filtering, reset),
		cmocka_unit_test_setup(test_format, reset),
		cmocka_unit_test_setup(test_one_line, reset),
		cmocka_unit_test_setup(test_complain, reset),
		cmocka_unit_test_setup(test_complain_filtered, reset),
		cmocka_unit_test_setup(test_ratelimit, reset),
		cmocka_unit_test_setup(test_ratelimit_threads, reset),
		cmocka_unit_test_setup(test_threads_whole_lines, reset),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
