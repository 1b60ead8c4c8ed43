/*
 * file.c — the file dispatcher: JSON lines, rotated as Python's
 * RotatingFileHandler does (file.h says what is promised).
 */
#include "config.h"

#include "dispatchers/file/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* ---------------------------------------------------------------- pure part */

/* Ends the line begun at at, which the writer that returned rc appended. */
static int end_line(struct tl_buf *b, size_t at, int rc)
{
	tl_buf_putc(b, '\n');
	if (rc == 0)
		rc = tl_buf_error(b);
	if (rc < 0 && b->data) {
		/* No half line stays behind in the batch's buffer. */
		b->len = at;
		b->data[at] = '\0';
	}
	return rc;
}

int tl_file_format_sample(const struct tl_sample *s, struct tl_buf *b)
{
	size_t at = b->len;

	return end_line(b, at, tl_sample_write_json(s, b));
}

int tl_file_format_event(const struct tl_event *e, struct tl_buf *b)
{
	size_t at = b->len;

	return end_line(b, at, tl_event_write_json(e, b));
}

size_t tl_file_line_chars(const char *line, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] & 0xc0) != 0x80)
			n++;
	return n;
}

bool tl_file_should_rotate(uint64_t size, size_t chars, uint64_t max_bytes, int64_t backup_count)
{
	/* Python rolls over whenever maxBytes > 0, but with backupCount 0 its
	 * doRollover renames nothing and reopens the same file: no rotation. */
	if (max_bytes == 0 || backup_count <= 0)
		return false;
	return size >= max_bytes || chars >= max_bytes - size;
}

int tl_file_rotate(const char *path, int64_t backup_count, struct tl_buf *why)
{
	size_t cap = strlen(path) + 24;
	char *src = malloc(cap), *dst = malloc(cap);
	int64_t i;
	int rc = 0;

	if (!src || !dst) {
		rc = -ENOMEM;
		if (why)
			tl_buf_puts(why, "out of memory while rotating");
		goto out;
	}
	/* rename(2) replaces the destination, as Python's remove-then-rename
	 * does; a missing source is skipped, as its os.path.exists() check does. */
	for (i = backup_count - 1; i >= 1; i--) {
		snprintf(src, cap, "%s.%lld", path, (long long)i);
		snprintf(dst, cap, "%s.%lld", path, (long long)i + 1);
		if (rename(src, dst) < 0 && errno != ENOENT) {
			rc = -errno;
			goto fail;
		}
	}
	snprintf(dst, cap, "%s.1", path);
	if (rename(path, dst) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(src, cap, "%s", path);
		goto fail;
	}
	goto out;
fail:
	if (why)
		tl_buf_printf(why, "cannot rotate %s to %s: %s", src, dst, strerror(-rc));
out:
	free(src);
	free(dst);
	return rc;
}

/* ---------------------------------------------------------------- the dispatcher */

/* Longest message_id remembered for resuming a batch (samples' and events' caps). */
#define ID_MAX 128

/*
 * A batch that failed after some of its lines were written: if the same batch
 * comes back (same counts, same first and last records, same last written
 * record), those lines are not written twice.
 */
struct resume {
	size_t done; /* records written; 0: nothing to resume */
	size_t n_samples, n_events;
	char first[ID_MAX + 1], last[ID_MAX + 1], mark[ID_MAX + 1];
};

struct file_ctx {
	const char *path; /* borrowed from the configuration */
	uint64_t max_bytes;
	int64_t backup_count;
	char prefix[96];
	int fd;		   /* -1 while closed: opened again by the next batch */
	bool regular;	   /* a regular file: rotated and fdatasync'ed */
	bool need_newline; /* a partial line could not be cut off: end it first */
	uint64_t size;	   /* bytes in the file, refreshed at each batch */
	struct tl_buf out; /* the lines of the batch */
	struct resume resume;
};

static bool rotating(const struct file_ctx *f)
{
	return f->max_bytes > 0 && f->backup_count > 0;
}

/* How far back from the end a partial line is looked for. */
#define PARTIAL_SCAN_MAX (16u << 20)

/*
 * A tallyd killed in the middle of a write(2) may have left the end of a line
 * unwritten; the records of that batch come again (the cursor did not move),
 * so the partial line is cut off, back to the last '\n'. When no '\n' is
 * found within PARTIAL_SCAN_MAX bytes, the next batch starts with one instead.
 */
static void cut_partial_line(struct file_ctx *f)
{
	char chunk[4096];
	uint64_t end = f->size, pos = f->size, keep = 0;
	bool found = false;
	int rfd;

	if (!f->regular || f->size == 0)
		return;
	rfd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (rfd < 0) {
		f->need_newline = true;
		return;
	}
	while (pos > 0 && end - pos < PARTIAL_SCAN_MAX) {
		size_t n = pos < sizeof(chunk) ? (size_t)pos : sizeof(chunk);
		size_t i;

		if (pread(rfd, chunk, n, (off_t)(pos - n)) != (ssize_t)n)
			break;
		for (i = n; i > 0 && chunk[i - 1] != '\n'; i--)
			;
		if (i > 0) {
			keep = pos - n + i;
			found = true;
			break;
		}
		pos -= n;
	}
	/* No '\n' at all: the whole file is the partial line. */
	if (!found && pos == 0)
		found = true;
	/* Only a line of ours (a JSON object) is cut: anything else is ended. */
	if (found && keep < end && (pread(rfd, chunk, 1, (off_t)keep) != 1 || chunk[0] != '{'))
		found = false;
	close(rfd);
	if (!found) {
		f->need_newline = true;
		return;
	}
	if (keep == end)
		return;
	if (ftruncate(f->fd, (off_t)keep) == 0) {
		tl_logc(TL_LOG_WARNING, f->prefix,
			"%s ended with a partial line of %llu bytes (an interrupted write): cut "
			"off, "
			"its records are written again",
			f->path, (unsigned long long)(end - keep));
		f->size = keep;
	} else {
		f->need_newline = true;
	}
}

static int open_file(struct file_ctx *f, struct tl_buf *why)
{
	struct stat st;
	int rc;

	f->fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (f->fd < 0) {
		rc = -errno;
		if (why)
			tl_buf_printf(why, "cannot open %s: %s", f->path, strerror(-rc));
		return rc;
	}
	if (fstat(f->fd, &st) < 0) {
		rc = -errno;
		if (why)
			tl_buf_printf(why, "cannot stat %s: %s", f->path, strerror(-rc));
		close(f->fd);
		f->fd = -1;
		return rc;
	}
	f->regular = S_ISREG(st.st_mode);
	f->size = f->regular ? (uint64_t)st.st_size : 0;
	cut_partial_line(f);
	return 0;
}

static void close_file(struct file_ctx *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* The size of the open file, which others (logrotate's copytruncate) may change. */
static int refresh_size(struct file_ctx *f, struct tl_buf *why)
{
	struct stat st;
	int rc;

	if (!f->regular)
		return 0;
	if (fstat(f->fd, &st) < 0) {
		rc = -errno;
		tl_buf_printf(why, "cannot stat %s: %s", f->path, strerror(-rc));
		return rc;
	}
	f->size = (uint64_t)st.st_size;
	return 0;
}

/* Writes all of p[0..n), through short writes. *out_written: what went out. */
static int write_all(int fd, const char *p, size_t n, size_t *out_written)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			*out_written = off;
			return -errno;
		}
		if (w == 0) {
			*out_written = off;
			return -EIO;
		}
		off += (size_t)w;
	}
	*out_written = off;
	return 0;
}

/*
 * Writes the lines p[0..n) (there are lines of them), records *done to *done + lines. On
 * success they are all done. On failure, the lines that went out whole are
 * done too, and a partial line is cut off when nobody else wrote to the file
 * meanwhile; when it cannot be, the next batch first ends it with a '\n' so
 * that the next line stands on its own. Returns 0 or a negative errno with
 * the reason in why.
 */
static int write_lines(struct file_ctx *f, const char *p, size_t n, size_t lines, size_t *done,
		       struct tl_buf *why)
{
	size_t written, whole = 0, i;
	struct stat st;
	int rc;

	if (n == 0)
		return 0;
	rc = write_all(f->fd, p, n, &written);
	if (rc == 0) {
		/* Every record is one line: no need to count them byte by byte. */
		*done += lines;
		f->size += n;
		return 0;
	}
	for (i = 0; i < written; i++) {
		if (p[i] == '\n') {
			(*done)++;
			whole = i + 1;
		}
	}
	tl_buf_printf(why, "cannot write to %s: %s", f->path, strerror(-rc));
	if (written > whole) {
		if (f->regular && fstat(f->fd, &st) == 0 &&
		    (uint64_t)st.st_size == f->size + written &&
		    ftruncate(f->fd, (off_t)(f->size + whole)) == 0)
			written = whole;
		else
			f->need_newline = true;
	}
	f->size += written;
	return rc;
}

/* Ends a partial line an earlier failure left behind. */
static int end_partial_line(struct file_ctx *f, struct tl_buf *why)
{
	size_t written;
	int rc;

	if (!f->need_newline)
		return 0;
	rc = write_all(f->fd, "\n", 1, &written);
	if (rc < 0) {
		tl_buf_printf(why, "cannot write to %s: %s", f->path, strerror(-rc));
		return rc;
	}
	f->size++;
	f->need_newline = false;
	return 0;
}

static const char *record_id(const struct tl_dispatch_batch *b, size_t i)
{
	return i < b->n_samples ? b->samples[i]->message_id
				: b->events[i - b->n_samples]->message_id;
}

static bool copy_id(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n > ID_MAX)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static void resume_save(struct file_ctx *f, const struct tl_dispatch_batch *b, size_t done)
{
	struct resume *r = &f->resume;
	size_t total = b->n_samples + b->n_events;

	r->done = 0;
	if (done == 0 || done >= total)
		return;
	r->n_samples = b->n_samples;
	r->n_events = b->n_events;
	if (copy_id(r->first, record_id(b, 0)) && copy_id(r->last, record_id(b, total - 1)) &&
	    copy_id(r->mark, record_id(b, done - 1)))
		r->done = done;
}

/* How many records of b an earlier attempt already wrote. */
static size_t resume_point(struct file_ctx *f, const struct tl_dispatch_batch *b)
{
	const struct resume *r = &f->resume;
	size_t total = b->n_samples + b->n_events;

	if (r->done == 0 || r->n_samples != b->n_samples || r->n_events != b->n_events ||
	    strcmp(r->first, record_id(b, 0)) != 0 ||
	    strcmp(r->last, record_id(b, total - 1)) != 0 ||
	    strcmp(r->mark, record_id(b, r->done - 1)) != 0)
		return 0;
	return r->done;
}

/* RotatingFileHandler.doRollover: close, rename the chain, open a new file. */
static int rollover(struct file_ctx *f, struct tl_buf *why)
{
	int rc;

	close_file(f);
	rc = tl_file_rotate(f->path, f->backup_count, why);
	if (rc < 0)
		return rc;
	return open_file(f, why);
}

static enum tl_dispatch_status file_dispatch(void *ctx, const struct tl_dispatch_batch *b,
					     struct tl_buf *why)
{
	struct file_ctx *f = ctx;
	size_t total = b->n_samples + b->n_events;
	size_t done, seg = 0, seg_first, i;
	int rc;

	if (total == 0)
		return TL_DISPATCH_OK;
	done = resume_point(f, b);
	seg_first = done;
	if ((f->fd < 0 && open_file(f, why) < 0) || refresh_size(f, why) < 0 ||
	    end_partial_line(f, why) < 0)
		goto retry;
	tl_buf_reset(&f->out);
	for (i = done; i < total; i++) {
		size_t at = f->out.len;

		rc = i < b->n_samples ? tl_file_format_sample(b->samples[i], &f->out)
				      : tl_file_format_event(b->events[i - b->n_samples], &f->out);
		if (rc == -ENOMEM) {
			tl_buf_puts(why, "out of memory while formatting the batch");
			goto retry;
		}
		if (rc < 0) {
			/* Cannot happen for a decoded record: its fields were checked. */
			tl_buf_printf(why, "record %s cannot be written as JSON", record_id(b, i));
			f->resume.done = 0;
			return TL_DISPATCH_DROP;
		}
		if (!rotating(f) || !f->regular ||
		    !tl_file_should_rotate(f->size + (at - seg),
					   tl_file_line_chars(f->out.data + at, f->out.len - at),
					   f->max_bytes, f->backup_count))
			continue;
		/* The lines before this one go to the current file, this one to the next. */
		if (write_lines(f, f->out.data + seg, at - seg, i - seg_first, &done, why) < 0 ||
		    rollover(f, why) < 0)
			goto retry;
		seg = at;
		seg_first = i;
	}
	if (write_lines(f, f->out.data + seg, f->out.len - seg, total - seg_first, &done, why) < 0)
		goto retry;
	f->resume.done = 0;
	return TL_DISPATCH_OK;
retry:
	resume_save(f, b, done);
	return TL_DISPATCH_RETRY;
}

static int file_init(const struct tl_dispatcher_conf *conf, void **out_ctx)
{
	const struct tl_dispatcher_file_conf *fc = conf->conf;
	struct tl_buf why;
	struct file_ctx *f;

	*out_ctx = NULL;
	if (!fc || !fc->file_path || !fc->file_path[0] || fc->backup_count < 0)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->path = fc->file_path;
	f->max_bytes = fc->max_bytes;
	f->backup_count = fc->backup_count;
	f->fd = -1;
	snprintf(f->prefix, sizeof(f->prefix), "dispatcher:%s", conf->name ? conf->name : "?");
	tl_buf_init(&f->out);
	/* Opened now, as Python's handler does, so that a wrong path shows at
	 * start-up; but a missing directory may come later: not fatal. */
	tl_buf_init(&why);
	if (open_file(f, &why) < 0)
		tl_logc(TL_LOG_WARNING, f->prefix, "%s (tried again with each batch)",
			why.data ? why.data : "cannot open");
	tl_buf_fini(&why);
	*out_ctx = f;
	return 0;
}

static int file_flush(void *ctx)
{
	struct file_ctx *f = ctx;

	if (f->fd < 0 || !f->regular)
		return 0;
	if (fdatasync(f->fd) < 0)
		return -errno;
	return 0;
}

static int file_reopen(void *ctx)
{
	struct file_ctx *f = ctx;

	int rc;

	close_file(f);
	rc = open_file(f, NULL);
	/* A partial line left in a file that was moved away stays there. */
	if (rc == 0 && f->size == 0)
		f->need_newline = false;
	return rc;
}

static void file_fini(void *ctx)
{
	struct file_ctx *f = ctx;

	if (!f)
		return;
	close_file(f);
	tl_buf_fini(&f->out);
	free(f);
}

/* ---------------------------------------------------------------- configuration */

#define F(field) offsetof(struct tl_dispatcher_file_conf, field)

static const struct tl_conf_item file_items[] = {
	{.key = "file_path",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED,
	 .offset = F(file_path),
	 .help = "file written, one JSON object per line"},
	{.key = "max_bytes",
	 .type = TL_CONF_SIZE,
	 .def = "0",
	 .offset = F(max_bytes),
	 .help = "rotate when the file reaches this size; 0 never rotates"},
	{.key = "backup_count",
	 .type = TL_CONF_INT,
	 .def = "0",
	 .min = 0,
	 .max = 10000,
	 .offset = F(backup_count),
	 .help = "rotated files kept (file.1 ... file.N); 0 never rotates"},
	{0},
};

const struct tl_dispatcher_desc tl_file_dispatcher = {
	.conf = {.name = "file",
		 .help = "writes JSON lines to a file",
		 .items = file_items,
		 .size = sizeof(struct tl_dispatcher_file_conf)},
	.init = file_init,
	.dispatch = file_dispatch,
	.flush = file_flush,
	.reopen = file_reopen,
	.fini = file_fini,
};
