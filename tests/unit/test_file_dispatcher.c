/*
 * Unit tests for dispatchers/file: the lines (parsed back, field by field),
 * rotation compared byte for byte with Python's own RotatingFileHandler run
 * on the same lines, reopen after logrotate, and failures (open, write, short
 * write, rotation) answered with RETRY and resumed without duplicates.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/decode.h"
#include "common/json.h"
#include "common/log.h"
#include "dispatchers/dispatcher.h"
#include "dispatchers/file/file.h"
#include "tests/unit/tmpdir.h"

/* ---------------------------------------------------------------- fixtures */

static char dir[PATH_MAX - 64];
static char path[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	if (tl_test_mkdtemp(dir, sizeof(dir), "tl-file-test") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/out.log", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_test_rmtree(dir);
	return 0;
}

/* An instance of the file dispatcher made as tallyd makes it. */
struct inst {
	struct tl_dispatcher_file_conf fc;
	struct tl_dispatcher_conf conf;
	struct tl_dispatcher *d;
};

static void inst_open(struct inst *in, const char *file, uint64_t max_bytes, int64_t backup_count)
{
	memset(in, 0, sizeof(*in));
	in->fc.file_path = (char *)file;
	in->fc.max_bytes = max_bytes;
	in->fc.backup_count = backup_count;
	in->conf.name = (char *)"archive";
	in->conf.desc = &tl_file_dispatcher;
	in->conf.events = true;
	in->conf.conf = &in->fc;
	assert_int_equal(tl_dispatcher_create(&in->conf, &in->d), 0);
}

static void inst_close(struct inst *in)
{
	tl_dispatcher_destroy(in->d);
	in->d = NULL;
}

static char *read_all(const char *p, size_t *out_len)
{
	FILE *f = fopen(p, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*out_len = (size_t)n;
	}
	return buf;
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static size_t count_lines(const char *p)
{
	size_t len = 0, n = 0, i;
	char *t = read_all(p, &len);

	assert_non_null(t);
	for (i = 0; i < len; i++)
		n += t[i] == '\n';
	free(t);
	return n;
}

/* Decoded records, as the collector hands them to dispatchers. */
struct records {
	struct tl_decoder dec;
	struct tl_decoded s, e;
	const struct tl_sample **sp;
	const struct tl_event **ep;
};

static void records_decode(struct records *r, const char *samples, const char *events)
{
	struct tl_decode_limits lim = {64u << 20, 64, 100000};
	size_t i;

	memset(r, 0, sizeof(*r));
	tl_decoder_init(&r->dec, &lim, NULL);
	tl_decoded_init(&r->s);
	tl_decoded_init(&r->e);
	if (samples) {
		assert_int_equal(tl_decode_json(&r->dec, samples, strlen(samples), &r->s), 0);
		assert_int_equal(r->s.n_rejects, 0);
	}
	if (events) {
		assert_int_equal(tl_decode_json(&r->dec, events, strlen(events), &r->e), 0);
		assert_int_equal(r->e.n_rejects, 0);
	}
	r->sp = calloc(r->s.n_samples + 1, sizeof(*r->sp));
	r->ep = calloc(r->e.n_events + 1, sizeof(*r->ep));
	assert_non_null(r->sp);
	assert_non_null(r->ep);
	for (i = 0; i < r->s.n_samples; i++)
		r->sp[i] = &r->s.samples[i];
	for (i = 0; i < r->e.n_events; i++)
		r->ep[i] = &r->e.events[i];
}

static void records_free(struct records *r)
{
	free(r->sp);
	free(r->ep);
	tl_decoded_fini(&r->s);
	tl_decoded_fini(&r->e);
	tl_decoder_fini(&r->dec);
}

/* n samples of equal line length, message ids m0, m1... (from "from" on). */
static char *equal_samples(size_t from, size_t n)
{
	struct tl_buf b;
	size_t i;

	tl_buf_init(&b);
	tl_buf_putc(&b, '[');
	for (i = from; i < from + n; i++)
		tl_buf_printf(&b,
			      "%s{\"counter_name\":\"cpu\",\"counter_type\":\"gauge\","
			      "\"counter_unit\":\"ns\",\"counter_volume\":1,\"resource_id\":\"r1\","
			      "\"message_id\":\"m%03zu\",\"timestamp\":\"2016-03-01T12:00:00\"}",
			      i > from ? "," : "", i);
	tl_buf_putc(&b, ']');
	return b.data;
}

static enum tl_dispatch_status send(struct inst *in, const struct records *r, size_t s_off,
				    size_t n_s, size_t e_off, size_t n_e, struct tl_buf *why)
{
	struct tl_dispatch_batch b = {r->sp + s_off, n_s, r->ep + e_off, n_e, NULL};

	return tl_dispatcher_dispatch(in->d, &b, why);
}

/* ---------------------------------------------------------------- lines */

static const char field_samples[] =
	"[{\"source\":\"openstack\",\"counter_name\":\"cpu_util\",\"counter_type\":\"gauge\","
	"\"counter_unit\":\"%\",\"counter_volume\":12.5,\"user_id\":\"u1\",\"project_id\":\"p1\","
	"\"resource_id\":\"r1\",\"timestamp\":\"2016-03-01 12:00:00.123456\","
	"\"resource_metadata\":{\"host\":\"h1\",\"flavor\":{\"id\":\"1\",\"ram\":512},"
	"\"tags\":[\"a\",\"b\"],\"name\":\"caf\\u00e9 \\\"q\\\"\\n\"},"
	"\"message_id\":\"5460acce-4fd6-480d-ab18-9735ec7b1996\",\"message_signature\":\"abc123\"},"
	"{\"counter_name\":\"disk.read.bytes\",\"counter_type\":\"cumulative\","
	"\"counter_unit\":\"B\","
	"\"counter_volume\":42,\"user_id\":null,\"project_id\":null,\"resource_id\":\"r2\","
	"\"timestamp\":\"2016-03-01T12:00:00+01:00\",\"resource_metadata\":null,"
	"\"message_id\":\"m2\",\"monotonic_time\":1234.5}]";

static const char field_events[] =
	"[{\"message_id\":\"e1\",\"event_type\":\"compute.instance.create.end\","
	"\"generated\":\"2016-03-01T12:00:00.123456\","
	"\"traits\":[[\"service\",1,\"compute.host1\"],"
	"[\"memory_mb\",2,512],[\"launched_at\",4,\"2016-03-01T11:59:00\"],[\"ratio\",3,0.5]],"
	"\"raw\":{\"k\":\"v\"},\"message_signature\":\"sig\"},"
	"{\"message_id\":\"e2\",\"event_type\":\"image.delete\","
	"\"generated\":\"2016-03-02T00:00:00\","
	"\"traits\":[]}]";

static const struct tl_json *get(const struct tl_json *o, const char *key, int type)
{
	const struct tl_json *v = tl_json_get(o, key);

	if (!v)
		fail_msg("missing field %s", key);
	if (v->type != type)
		fail_msg("field %s: type %d, expected %d", key, v->type, type);
	return v;
}

static void expect_str(const struct tl_json *o, const char *key, const char *want)
{
	assert_string_equal(get(o, key, TL_JSON_STRING)->u.s, want);
}

static size_t n_keys(const struct tl_json *o)
{
	return o->len;
}

static void test_lines_field_by_field(void **state)
{
	struct records r;
	struct inst in;
	struct tl_json_doc doc;
	struct tl_json_error err;
	const struct tl_json *o, *v, *t;
	char *text, *line, *next;
	size_t len, n = 0;
	struct stat st;
	mode_t old = umask(0);

	(void)state;
	records_decode(&r, field_samples, field_events);
	inst_open(&in, path, 0, 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(send(&in, &r, 0, 2, 0, 2, NULL), TL_DISPATCH_OK);
	assert_int_equal(tl_dispatcher_flush(in.d), 0);
	assert_int_equal(atomic_load(&in.d->stats.samples), 2);
	assert_int_equal(atomic_load(&in.d->stats.events), 2);

	text = read_all(path, &len);
	assert_non_null(text);
	assert_true(len > 0 && text[len - 1] == '\n');
	tl_json_doc_init(&doc);
	for (line = text; *line; line = next, n++) {
		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		assert_int_equal(tl_json_parse(&doc, line, strlen(line), 64, &err), 0);
		o = doc.root;
		assert_int_equal(o->type, TL_JSON_OBJECT);
		switch (n) {
		case 0:
			assert_int_equal(n_keys(o), 12);
			expect_str(o, "source", "openstack");
			expect_str(o, "counter_name", "cpu_util");
			expect_str(o, "counter_type", "gauge");
			expect_str(o, "counter_unit", "%");
			v = get(o, "counter_volume", TL_JSON_REAL);
			assert_true(v->u.d == 12.5);
			expect_str(o, "user_id", "u1");
			expect_str(o, "project_id", "p1");
			expect_str(o, "resource_id", "r1");
			expect_str(o, "timestamp", "2016-03-01T12:00:00.123456");
			v = get(o, "resource_metadata", TL_JSON_OBJECT);
			expect_str(v, "host", "h1");
			expect_str(v, "name", "caf\xc3\xa9 \"q\"\n");
			t = get(v, "flavor", TL_JSON_OBJECT);
			expect_str(t, "id", "1");
			assert_int_equal(get(t, "ram", TL_JSON_INT)->u.i, 512);
			t = get(v, "tags", TL_JSON_ARRAY);
			assert_int_equal(t->len, 2);
			assert_string_equal(t->u.items[1].u.s, "b");
			expect_str(o, "message_id", "5460acce-4fd6-480d-ab18-9735ec7b1996");
			expect_str(o, "message_signature", "abc123");
			assert_null(tl_json_get(o, "monotonic_time"));
			break;
		case 1:
			assert_int_equal(n_keys(o), 13);
			get(o, "source", TL_JSON_NULL);
			expect_str(o, "counter_name", "disk.read.bytes");
			expect_str(o, "counter_type", "cumulative");
			expect_str(o, "counter_unit", "B");
			assert_int_equal(get(o, "counter_volume", TL_JSON_INT)->u.i, 42);
			get(o, "user_id", TL_JSON_NULL);
			get(o, "project_id", TL_JSON_NULL);
			expect_str(o, "resource_id", "r2");
			expect_str(o, "timestamp", "2016-03-01T11:00:00.000000");
			assert_int_equal(get(o, "resource_metadata", TL_JSON_OBJECT)->len, 0);
			expect_str(o, "message_id", "m2");
			expect_str(o, "message_signature", "");
			assert_true(get(o, "monotonic_time", TL_JSON_REAL)->u.d == 1234.5);
			break;
		case 2:
			assert_int_equal(n_keys(o), 6);
			expect_str(o, "message_id", "e1");
			expect_str(o, "event_type", "compute.instance.create.end");
			expect_str(o, "generated", "2016-03-01T12:00:00.123456");
			v = get(o, "traits", TL_JSON_ARRAY);
			assert_int_equal(v->len, 4);
			t = &v->u.items[0];
			assert_int_equal(t->type, TL_JSON_ARRAY);
			assert_int_equal(t->len, 3);
			assert_string_equal(t->u.items[0].u.s, "service");
			assert_int_equal(t->u.items[1].u.i, 1);
			assert_string_equal(t->u.items[2].u.s, "compute.host1");
			t = &v->u.items[1];
			assert_string_equal(t->u.items[0].u.s, "memory_mb");
			assert_int_equal(t->u.items[1].u.i, 2);
			assert_int_equal(t->u.items[2].type, TL_JSON_INT);
			assert_int_equal(t->u.items[2].u.i, 512);
			t = &v->u.items[2];
			assert_string_equal(t->u.items[0].u.s, "launched_at");
			assert_int_equal(t->u.items[1].u.i, 4);
			assert_string_equal(t->u.items[2].u.s, "2016-03-01T11:59:00.000000");
			t = &v->u.items[3];
			assert_string_equal(t->u.items[0].u.s, "ratio");
			assert_int_equal(t->u.items[1].u.i, 3);
			assert_int_equal(t->u.items[2].type, TL_JSON_REAL);
			assert_true(t->u.items[2].u.d == 0.5);
			expect_str(get(o, "raw", TL_JSON_OBJECT), "k", "v");
			expect_str(o, "message_signature", "sig");
			break;
		case 3:
			expect_str(o, "message_id", "e2");
			expect_str(o, "event_type", "image.delete");
			expect_str(o, "generated", "2016-03-02T00:00:00.000000");
			assert_int_equal(get(o, "traits", TL_JSON_ARRAY)->len, 0);
			assert_int_equal(get(o, "raw", TL_JSON_OBJECT)->len, 0);
			expect_str(o, "message_signature", "");
			break;
		default:
			fail_msg("one line too many");
		}
	}
	assert_int_equal(n, 4);
	tl_json_doc_fini(&doc);
	free(text);
	inst_close(&in);
	records_free(&r);
}

/* The file is opened O_APPEND|O_CLOEXEC; what was there stays. */
static void test_appends_with_cloexec(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 3), link[PATH_MAX], fdp[64], *text;
	size_t len;
	int fd, found = 0;

	(void)state;
	write_file(path, "old line\n");
	records_decode(&r, s, NULL);
	inst_open(&in, path, 0, 0);
	for (fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fd);
		n = readlink(fdp, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, path) != 0)
			continue;
		found++;
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(fd, F_GETFL) & O_APPEND);
		assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
	}
	assert_int_equal(found, 1);
	assert_int_equal(send(&in, &r, 0, 2, 0, 0, NULL), TL_DISPATCH_OK);
	assert_int_equal(send(&in, &r, 2, 1, 0, 0, NULL), TL_DISPATCH_OK);
	text = read_all(path, &len);
	assert_non_null(text);
	assert_memory_equal(text, "old line\n{", 10);
	assert_int_equal(count_lines(path), 4);
	assert_non_null(strstr(text, "\"message_id\":\"m002\""));
	free(text);
	inst_close(&in);
	records_free(&r);
	free(s);
}

/* A tallyd killed inside a write(2) left half a line: the next start cuts it
 * off (its records come again); a tail that is not one of our lines is ended. */
static void test_partial_line_after_crash(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 2), *text;
	size_t len;

	(void)state;
	records_decode(&r, s, NULL);
	write_file(path, "{\"message_id\":\"done\"}\n{\"source\":\"PARTIAL");
	inst_open(&in, path, 0, 0);
	assert_int_equal(send(&in, &r, 0, 2, 0, 0, NULL), TL_DISPATCH_OK);
	inst_close(&in);
	text = read_all(path, &len);
	assert_non_null(text);
	assert_memory_equal(text, "{\"message_id\":\"done\"}\n{\"source\"", 31);
	assert_int_equal(count_lines(path), 3);
	assert_null(strstr(text, "PARTIAL"));
	free(text);

	/* Not ours: kept, and ended before the next line. */
	write_file(path, "operator's note without newline");
	inst_open(&in, path, 0, 0);
	assert_int_equal(send(&in, &r, 0, 1, 0, 0, NULL), TL_DISPATCH_OK);
	inst_close(&in);
	text = read_all(path, &len);
	assert_non_null(text);
	assert_memory_equal(text, "operator's note without newline\n{", 33);
	assert_int_equal(count_lines(path), 2);
	free(text);
	records_free(&r);
	free(s);
}

/* ---------------------------------------------------------------- rotation: pure part */

static void test_rotation_decision(void **state)
{
	(void)state;
	/* Python: stream.tell() + len(msg) >= maxBytes, only when both are set. */
	assert_false(tl_file_should_rotate(99, 1, 100, 0));
	assert_false(tl_file_should_rotate(1000, 10, 0, 5));
	assert_false(tl_file_should_rotate(0, 10, 0, 0));
	assert_false(tl_file_should_rotate(89, 10, 100, 1));
	assert_true(tl_file_should_rotate(90, 10, 100, 1));
	assert_true(tl_file_should_rotate(91, 10, 100, 1));
	assert_true(tl_file_should_rotate(0, 100, 100, 1)); /* even an empty file */
	assert_true(tl_file_should_rotate(0, 500, 100, 3));
	assert_true(tl_file_should_rotate(UINT64_MAX, SIZE_MAX, UINT64_MAX, 1));
	assert_false(tl_file_should_rotate(0, 1, UINT64_MAX, 1));
	assert_true(tl_file_should_rotate(200, 1, 100, 1));

	/* Python counts characters, not bytes. */
	assert_int_equal(tl_file_line_chars("", 0), 0);
	assert_int_equal(tl_file_line_chars("abc\n", 4), 4);
	assert_int_equal(tl_file_line_chars("caf\xc3\xa9\n", 6), 5);
	assert_int_equal(tl_file_line_chars("\xe2\x82\xac\xf0\x9d\x84\x9e", 7), 2);
}

static void test_rotate_renames(void **state)
{
	char p[PATH_MAX + 32];
	struct tl_buf why;
	size_t len;
	char *t;

	(void)state;
	tl_buf_init(&why);
	write_file(path, "base\n");
	snprintf(p, sizeof(p), "%s.1", path);
	write_file(p, "one\n");
	snprintf(p, sizeof(p), "%s.3", path);
	write_file(p, "three\n");
	snprintf(p, sizeof(p), "%s.4", path);
	write_file(p, "four\n");
	/* backup_count 3: .1 -> .2, .2 (absent) skipped, base -> .1; .3 and .4 untouched. */
	assert_int_equal(tl_file_rotate(path, 3, &why), 0);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(p, sizeof(p), "%s.1", path);
	t = read_all(p, &len);
	assert_string_equal(t, "base\n");
	free(t);
	snprintf(p, sizeof(p), "%s.2", path);
	t = read_all(p, &len);
	assert_string_equal(t, "one\n");
	free(t);
	snprintf(p, sizeof(p), "%s.3", path);
	t = read_all(p, &len);
	assert_string_equal(t, "three\n");
	free(t);
	/* Again: .2 replaces .3 (dropped beyond the count), base is absent. */
	assert_int_equal(tl_file_rotate(path, 3, &why), 0);
	t = read_all(p, &len);
	assert_string_equal(t, "one\n");
	free(t);
	snprintf(p, sizeof(p), "%s.4", path);
	t = read_all(p, &len);
	assert_string_equal(t, "four\n");
	free(t);
	assert_int_equal(why.len, 0);
	tl_buf_fini(&why);
}

/* A hand-computed sequence, for when Python is not there. */
static void test_rotation_sequence(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 7), p[PATH_MAX + 32], *t;
	size_t len, line;

	(void)state;
	records_decode(&r, s, NULL);
	{
		struct tl_buf b;

		tl_buf_init(&b);
		assert_int_equal(tl_file_format_sample(r.sp[0], &b), 0);
		line = b.len;
		tl_buf_fini(&b);
	}
	/* Three lines fit below max_bytes = 3 * line + 1; the fourth rolls over. */
	inst_open(&in, path, 3 * line + 1, 2);
	assert_int_equal(send(&in, &r, 0, 5, 0, 0, NULL), TL_DISPATCH_OK);
	assert_int_equal(count_lines(path), 2);
	snprintf(p, sizeof(p), "%s.1", path);
	assert_int_equal(count_lines(p), 3);
	assert_int_equal(send(&in, &r, 5, 2, 0, 0, NULL), TL_DISPATCH_OK);
	/* base had 2: the first of the two fits (3), the second rolls over. */
	assert_int_equal(count_lines(path), 1);
	assert_int_equal(count_lines(p), 3);
	snprintf(p, sizeof(p), "%s.2", path);
	assert_int_equal(count_lines(p), 3);
	t = read_all(p, &len);
	assert_non_null(strstr(t, "m000"));
	free(t);
	snprintf(p, sizeof(p), "%s.3", path);
	assert_int_equal(access(p, F_OK), -1);
	inst_close(&in);
	records_free(&r);
	free(s);
}

/* ---------------------------------------------------------------- rotation: against Python */

static const char rfh_script[] =
	"import logging, logging.handlers, sys\n"
	"class H(logging.handlers.RotatingFileHandler):\n"
	"    def handleError(self, record):\n"
	"        raise\n"
	"path, max_bytes, backup_count, lines = sys.argv[1], int(sys.argv[2]), "
	"int(sys.argv[3]), sys.argv[4]\n"
	"h = H(path, maxBytes=max_bytes, backupCount=backup_count, encoding='utf8')\n"
	"h.setFormatter(logging.Formatter('%(message)s'))\n"
	"with open(lines, encoding='utf8', newline='\\n') as f:\n"
	"    for line in f:\n"
	"        h.emit(logging.makeLogRecord({'msg': line[:-1]}))\n"
	"h.close()\n";

static const char *python(void)
{
	const char *p = getenv("PYTHON3_DEBIAN");

	return p && *p ? p : "/usr/bin/python3";
}

/* Runs python3 with args; returns its exit status, or -1 when it cannot run. */
static int run_python(const char *const args[])
{
	const char *argv[8];
	pid_t pid;
	int st, i;

	argv[0] = python();
	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) == 127 ? -1 : WEXITSTATUS(st);
}

static int only_files(const struct dirent *e)
{
	return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

/* The two folders hold the same file names with the same bytes. */
static void same_files(const char *a, const char *b, const char *what)
{
	struct dirent **ea, **eb;
	int na, nb, i;

	na = scandir(a, &ea, only_files, alphasort);
	nb = scandir(b, &eb, only_files, alphasort);

	assert_true(na >= 0 && nb >= 0);
	if (na != nb)
		fail_msg("%s: %d files here, %d from Python", what, na, nb);
	for (i = 0; i < na; i++) {
		char pa[PATH_MAX + 264], pb[PATH_MAX + 264], *ta, *tb;
		size_t la = 0, lb = 0;

		if (strcmp(ea[i]->d_name, eb[i]->d_name) != 0)
			fail_msg("%s: file %s here, %s from Python", what, ea[i]->d_name,
				 eb[i]->d_name);
		snprintf(pa, sizeof(pa), "%s/%s", a, ea[i]->d_name);
		snprintf(pb, sizeof(pb), "%s/%s", b, eb[i]->d_name);
		ta = read_all(pa, &la);
		tb = read_all(pb, &lb);
		assert_non_null(ta);
		assert_non_null(tb);
		if (la != lb || memcmp(ta, tb, la) != 0)
			fail_msg("%s: %s differs (%zu bytes here, %zu from Python)", what,
				 ea[i]->d_name, la, lb);
		free(ta);
		free(tb);
	}
	for (i = 0; i < na; i++)
		free(ea[i]);
	for (i = 0; i < nb; i++)
		free(eb[i]);
	free(ea);
	free(eb);
}

/* Metadata text of sample i: lengths and character widths vary; one is huge. */
static void note_of(size_t i, struct tl_buf *b)
{
	static const char *const glyphs[] = {"a", "\xc3\xa9",	      "b", "\xe2\x82\xac",
					     "z", "\xf0\x9d\x84\x9e", "0"};
	size_t n = i == 40 ? 1500 : (i * 37) % 170, j;

	for (j = 0; j < n; j++)
		tl_buf_puts(b, glyphs[(i + j * (i % 3 + 1)) % 7]);
}

static void test_rotation_matches_python(void **state)
{
	/*
	 * Large backup counts keep the whole history, so that any difference in
	 * any rollover shows. The last two are set below so that a line lands
	 * exactly on max_bytes.
	 */
	struct {
		uint64_t max_bytes;
		int64_t backup_count;
	} cfgs[] = {{0, 0},    {0, 3},	 {1000, 0}, {1000, 3},	 {700, 1},  {700, 500},
		    {2500, 2}, {300, 5}, {1, 2},    {4096, 100}, {0, 1000}, {0, 1000}};
	const size_t n_cfgs = sizeof(cfgs) / sizeof(cfgs[0]);
	static const size_t sizes[] = {1, 4, 2, 7, 3};
	enum { N_SAMPLES = 80, N_EVENTS = 3 };
	struct records r;
	struct tl_buf sj, lines;
	char script[PATH_MAX], lines_path[PATH_MAX], argbuf[2][32];
	size_t c, i;
	const char *args[6];

	(void)state;
	snprintf(script, sizeof(script), "%s/rfh.py", dir);
	write_file(script, rfh_script);
	{
		const char *probe[] = {"-c", "import logging.handlers", NULL};

		if (run_python(probe) != 0) {
			fprintf(stderr, "SKIP: %s cannot run\n", python());
			skip();
		}
	}

	tl_buf_init(&sj);
	tl_buf_putc(&sj, '[');
	for (i = 0; i < N_SAMPLES; i++) {
		tl_buf_printf(&sj,
			      "%s{\"counter_name\":\"m%zu\",\"counter_type\":\"delta\","
			      "\"counter_unit\":\"B\",\"counter_volume\":%zu.25,"
			      "\"resource_id\":\"r%zu\","
			      "\"message_id\":\"id-%zu\",\"timestamp\":\"2016-03-01T12:00:%02zu\","
			      "\"resource_metadata\":{\"note\":\"",
			      i ? "," : "", i, i, i % 7, i, i % 60);
		note_of(i, &sj);
		tl_buf_puts(&sj, "\"}}");
	}
	tl_buf_putc(&sj, ']');
	records_decode(&r, sj.data,
		       "[{\"message_id\":\"e0\",\"event_type\":\"a.b\","
		       "\"generated\":\"2016-03-01\","
		       "\"traits\":[[\"t\",1,\"\xc3\xa9t\xc3\xa9\"]]},"
		       "{\"message_id\":\"e1\",\"event_type\":\"c.d\",\"generated\":\"2016-03-01\","
		       "\"traits\":[]},"
		       "{\"message_id\":\"e2\",\"event_type\":\"e.f\",\"generated\":\"2016-03-01\","
		       "\"traits\":[[\"n\",2,7]]}]");
	assert_int_equal(r.s.n_samples, N_SAMPLES);
	assert_int_equal(r.e.n_events, N_EVENTS);

	/* The lines in the order the dispatcher writes them: per batch, samples then events. */
	tl_buf_init(&lines);
	{
		size_t off = 0, k = 0;

		while (off < N_SAMPLES) {
			size_t n = sizes[k % 5], e = k % 3 == 1 ? 1 : 0;

			if (n > N_SAMPLES - off)
				n = N_SAMPLES - off;
			for (i = 0; i < n; i++)
				assert_int_equal(tl_file_format_sample(r.sp[off + i], &lines), 0);
			if (e)
				assert_int_equal(tl_file_format_event(r.ep[k % N_EVENTS], &lines),
						 0);
			off += n;
			k++;
		}
	}
	{
		/* "seed line\n" is 10 bytes; Python compares bytes in the file plus
		 * characters of the next line with >=. */
		struct tl_buf l0, l1;

		tl_buf_init(&l0);
		tl_buf_init(&l1);
		assert_int_equal(tl_file_format_sample(r.sp[0], &l0), 0);
		assert_int_equal(tl_file_format_sample(r.sp[1], &l1), 0);
		cfgs[n_cfgs - 2].max_bytes = 10 + tl_file_line_chars(l0.data, l0.len);
		cfgs[n_cfgs - 1].max_bytes = 10 + l0.len + tl_file_line_chars(l1.data, l1.len);
		assert_true(tl_file_line_chars(l1.data, l1.len) < l1.len);
		tl_buf_fini(&l0);
		tl_buf_fini(&l1);
	}
	snprintf(lines_path, sizeof(lines_path), "%s/lines.txt", dir);
	write_file(lines_path, lines.data);

	for (c = 0; c < n_cfgs; c++) {
		char dc[PATH_MAX], dp[PATH_MAX], fc[PATH_MAX + 16], fp[PATH_MAX + 16], what[64];
		struct inst in;
		size_t off = 0, k = 0;

		snprintf(what, sizeof(what), "max_bytes %llu backup_count %lld",
			 (unsigned long long)cfgs[c].max_bytes, (long long)cfgs[c].backup_count);
		snprintf(dc, sizeof(dc), "%s/c%zu", dir, c);
		snprintf(dp, sizeof(dp), "%s/py%zu", dir, c);
		assert_int_equal(mkdir(dc, 0755), 0);
		assert_int_equal(mkdir(dp, 0755), 0);
		/* The same history on both sides: a file in place and a gap at .1. */
		snprintf(fc, sizeof(fc), "%s/out.log", dc);
		snprintf(fp, sizeof(fp), "%s/out.log", dp);
		write_file(fc, "seed line\n");
		write_file(fp, "seed line\n");
		snprintf(fc, sizeof(fc), "%s/out.log.2", dc);
		snprintf(fp, sizeof(fp), "%s/out.log.2", dp);
		write_file(fc, "old backup\n");
		write_file(fp, "old backup\n");

		snprintf(fc, sizeof(fc), "%s/out.log", dc);
		inst_open(&in, fc, cfgs[c].max_bytes, cfgs[c].backup_count);
		while (off < N_SAMPLES) {
			size_t n = sizes[k % 5], e = k % 3 == 1 ? 1 : 0;

			if (n > N_SAMPLES - off)
				n = N_SAMPLES - off;
			assert_int_equal(send(&in, &r, off, n, k % N_EVENTS, e, NULL),
					 TL_DISPATCH_OK);
			off += n;
			k++;
		}
		inst_close(&in);

		snprintf(fp, sizeof(fp), "%s/out.log", dp);
		snprintf(argbuf[0], sizeof(argbuf[0]), "%llu",
			 (unsigned long long)cfgs[c].max_bytes);
		snprintf(argbuf[1], sizeof(argbuf[1]), "%lld", (long long)cfgs[c].backup_count);
		args[0] = script;
		args[1] = fp;
		args[2] = argbuf[0];
		args[3] = argbuf[1];
		args[4] = lines_path;
		args[5] = NULL;
		assert_int_equal(run_python(args), 0);
		same_files(dc, dp, what);
		/* The comparison means something: rotation did happen where it should. */
		snprintf(fc, sizeof(fc), "%s/out.log.1", dc);
		assert_int_equal(access(fc, F_OK) == 0,
				 cfgs[c].max_bytes > 0 && cfgs[c].backup_count > 0);
	}
	tl_buf_fini(&lines);
	tl_buf_fini(&sj);
	records_free(&r);
}

/* A FIFO (or /dev/stdout) is never rotated, as Python's bpo-45401 says. */
static void test_not_regular_never_rotates(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 4), p[PATH_MAX + 16], got[4096];
	int rd;

	(void)state;
	assert_int_equal(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	records_decode(&r, s, NULL);
	inst_open(&in, path, 10, 2);
	assert_int_equal(send(&in, &r, 0, 4, 0, 0, NULL), TL_DISPATCH_OK);
	assert_int_equal(tl_dispatcher_flush(in.d), 0);
	snprintf(p, sizeof(p), "%s.1", path);
	assert_int_equal(access(p, F_OK), -1);
	assert_true(read(rd, got, sizeof(got)) > 0);
	assert_non_null(strstr(got, "m003"));
	close(rd);
	inst_close(&in);
	records_free(&r);
	free(s);
}

/* ---------------------------------------------------------------- reopen */

static void test_reopen_after_logrotate(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 6), moved[PATH_MAX + 16], sub[PATH_MAX], subpath[PATH_MAX + 16];
	struct tl_buf why;
	struct inst in2;

	(void)state;
	tl_buf_init(&why);
	records_decode(&r, s, NULL);
	inst_open(&in, path, 0, 0);
	assert_int_equal(send(&in, &r, 0, 2, 0, 0, NULL), TL_DISPATCH_OK);
	snprintf(moved, sizeof(moved), "%s.moved", path);
	assert_int_equal(rename(path, moved), 0);
	/* Until told, the dispatcher writes where its file went (as Python would). */
	assert_int_equal(send(&in, &r, 2, 1, 0, 0, NULL), TL_DISPATCH_OK);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_lines(moved), 3);
	assert_int_equal(tl_dispatcher_reopen(in.d), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(send(&in, &r, 3, 3, 0, 0, NULL), TL_DISPATCH_OK);
	assert_int_equal(count_lines(path), 3);
	assert_int_equal(count_lines(moved), 3);
	inst_close(&in);

	/* Reopen fails when the folder went away; the next batches retry, then work. */
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(subpath, sizeof(subpath), "%s/out.log", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	inst_open(&in2, subpath, 0, 0);
	assert_int_equal(unlink(subpath), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(tl_dispatcher_reopen(in2.d), -ENOENT);
	assert_int_equal(send(&in2, &r, 0, 2, 0, 0, &why), TL_DISPATCH_RETRY);
	assert_non_null(strstr(why.data, "cannot open"));
	assert_non_null(strstr(why.data, "No such file or directory"));
	assert_int_equal(tl_dispatcher_flush(in2.d), 0); /* nothing open: nothing to sync */
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(send(&in2, &r, 0, 2, 0, 0, &why), TL_DISPATCH_OK);
	assert_int_equal(count_lines(subpath), 2);
	inst_close(&in2);

	tl_buf_fini(&why);
	records_free(&r);
	free(s);
}

/* ---------------------------------------------------------------- failures */

static void test_write_errors_are_retry(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 2), missing[PATH_MAX + 16];
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	records_decode(&r, s, NULL);

	/* ENOSPC on every write. */
	if (access("/dev/full", W_OK) == 0) {
		inst_open(&in, "/dev/full", 0, 0);
		assert_int_equal(send(&in, &r, 0, 2, 0, 0, &why), TL_DISPATCH_RETRY);
		assert_non_null(strstr(why.data, "cannot write to /dev/full"));
		assert_non_null(strstr(why.data, strerror(ENOSPC)));
		assert_int_equal(send(&in, &r, 0, 2, 0, 0, &why), TL_DISPATCH_RETRY);
		assert_int_equal(atomic_load(&in.d->stats.retries), 2);
		assert_int_equal(atomic_load(&in.d->stats.samples), 0);
		assert_int_equal(tl_dispatcher_flush(in.d), 0);
		inst_close(&in);
	}

	/* A folder that is not there (or not writable): init works, batches retry. */
	snprintf(missing, sizeof(missing), "%s/nope/out.log", dir);
	inst_open(&in, missing, 0, 0);
	assert_int_equal(send(&in, &r, 0, 2, 0, 0, &why), TL_DISPATCH_RETRY);
	assert_non_null(strstr(why.data, missing));
	inst_close(&in);

	/* The path is a folder. */
	inst_open(&in, dir, 0, 0);
	assert_int_equal(send(&in, &r, 0, 2, 0, 0, &why), TL_DISPATCH_RETRY);
	assert_non_null(strstr(why.data, strerror(EISDIR)));
	inst_close(&in);

	/* Configurations that cannot work. */
	{
		struct tl_dispatcher_file_conf fc = {NULL, 0, 0};
		struct tl_dispatcher_conf conf = {.name = (char *)"x",
						  .desc = &tl_file_dispatcher,
						  .events = true,
						  .conf = &fc};
		struct tl_dispatcher *d = NULL;

		assert_int_equal(tl_dispatcher_create(&conf, &d), -EINVAL);
		assert_null(d);
		fc.file_path = (char *)"";
		assert_int_equal(tl_dispatcher_create(&conf, &d), -EINVAL);
		conf.conf = NULL;
		assert_int_equal(tl_dispatcher_create(&conf, &d), -EINVAL);
	}
	tl_buf_fini(&why);
	records_free(&r);
	free(s);
}

/*
 * A rotation that fails in the middle of a batch: the lines before it stay
 * written, and when the same batch comes back only the rest is written.
 */
static void test_rotation_failure_resumes(void **state)
{
	struct records r;
	struct inst in;
	char *s = equal_samples(0, 12), p1[PATH_MAX + 16], inner[PATH_MAX + 32], *t;
	struct tl_buf why, b;
	size_t line, len, i;

	(void)state;
	tl_buf_init(&why);
	tl_buf_init(&b);
	records_decode(&r, s, NULL);
	assert_int_equal(tl_file_format_sample(r.sp[0], &b), 0);
	line = b.len;
	/* out.log.1 is a non-empty folder: renaming out.log onto it fails. */
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(inner, sizeof(inner), "%s/x", p1);
	assert_int_equal(mkdir(p1, 0755), 0);
	write_file(inner, "x");

	inst_open(&in, path, 3 * line + 1, 1);
	assert_int_equal(send(&in, &r, 0, 6, 0, 0, &why), TL_DISPATCH_RETRY);
	assert_non_null(strstr(why.data, "cannot rotate"));
	assert_int_equal(count_lines(path), 3);
	assert_int_equal(send(&in, &r, 0, 6, 0, 0, &why), TL_DISPATCH_RETRY);
	assert_int_equal(count_lines(path), 3);

	assert_int_equal(unlink(inner), 0);
	assert_int_equal(rmdir(p1), 0);
	assert_int_equal(send(&in, &r, 0, 6, 0, 0, &why), TL_DISPATCH_OK);
	/* m000..m002 rotated away, m003..m005 in the new file: each exactly once. */
	t = read_all(p1, &len);
	for (i = 0; i < 6; i++) {
		char id[16];

		snprintf(id, sizeof(id), "\"m%03zu\"", i);
		assert_true((strstr(t, id) != NULL) == (i < 3));
	}
	free(t);
	t = read_all(path, &len);
	assert_int_equal(len, 3 * line);
	for (i = 0; i < 6; i++) {
		char id[16];
		const char *at;

		snprintf(id, sizeof(id), "\"m%03zu\"", i);
		at = strstr(t, id);
		assert_true((at != NULL) == (i >= 3));
		if (at)
			assert_null(strstr(at + 1, id));
	}
	free(t);

	/* Another batch after a failure is written whole. */
	assert_int_equal(send(&in, &r, 6, 2, 0, 0, &why), TL_DISPATCH_OK);
	assert_int_equal(count_lines(path), 2);
	assert_int_equal(count_lines(p1), 3);
	inst_close(&in);
	tl_buf_fini(&b);
	tl_buf_fini(&why);
	records_free(&r);
	free(s);
}

/*
 * Short writes and a failure in the middle of a line (file size limit, as a
 * full disk would): the partial line is cut off, whole lines are kept and
 * not written again. The failing part runs in a child, since the limit is per
 * process; it only returns codes (no cmocka assertions in the child).
 */
static int partial_write_child(struct inst *in, const struct records *r, size_t line)
{
	struct rlimit rl, low;
	struct tl_buf why;
	struct stat st;
	char *t;
	size_t len, i;

	tl_buf_init(&why);
	signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 11;
	low = rl;
	low.rlim_cur = 2 * line + line / 2;
	if (setrlimit(RLIMIT_FSIZE, &low) < 0)
		return 12;
	if (send(in, r, 0, 5, 0, 0, &why) != TL_DISPATCH_RETRY)
		return 13;
	if (!strstr(why.data, strerror(EFBIG)))
		return 14;
	if (stat(path, &st) < 0 || (size_t)st.st_size != 2 * line)
		return 15;
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 16;
	if (send(in, r, 0, 5, 0, 0, &why) != TL_DISPATCH_OK)
		return 17;
	t = read_all(path, &len);
	if (!t || len != 5 * line)
		return 18;
	for (i = 0; i < 5; i++) {
		char id[16];
		const char *at;

		snprintf(id, sizeof(id), "\"m%03zu\"", i);
		at = strstr(t + i * line, id);
		if (!at || at >= t + (i + 1) * line)
			return 20 + (int)i;
	}
	free(t);
	tl_buf_fini(&why);
	return 0;
}

static void test_partial_write_resumes(void **state)
{
	struct records r;
	struct inst in;
	struct tl_buf b;
	char *s = equal_samples(0, 5);
	pid_t pid;
	int st;

	(void)state;
	records_decode(&r, s, NULL);
	tl_buf_init(&b);
	assert_int_equal(tl_file_format_sample(r.sp[0], &b), 0);
	inst_open(&in, path, 0, 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(partial_write_child(&in, &r, b.len));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(count_lines(path), 5);
	inst_close(&in);
	tl_buf_fini(&b);
	records_free(&r);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_field_by_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_appends_with_cloexec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_line_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_decision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_renames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_matches_python, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_regular_never_rotates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_logrotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors_are_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_failure_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_write_resumes, setup, teardown),
	};

	/* Failures are logged on purpose here; keep warnings for when a test fails. */
	tl_log_setup(TL_LOG_ERR, TL_LOG_STDERR, "test_file_dispatcher");
	return cmocka_run_group_tests_name("file_dispatcher", tests, NULL, NULL);
}
