/*
 * file.h — the file dispatcher (type "file"): one JSON object per line.
 *
 * Each sample and each event becomes one line: the compact JSON of
 * tl_sample_write_json() / tl_event_write_json() (ceilometer's field names)
 * and '\n'. Samples of a batch come first, then its events.
 *
 * Rotation is that of Python's logging.handlers.RotatingFileHandler, which
 * ceilometer's file dispatcher uses: it happens only when max_bytes > 0 and
 * backup_count > 0, before writing a line that would bring the file to
 * max_bytes or more (size + length of the line >= max_bytes, the length
 * counted in characters as Python counts them, even when the file is empty);
 * file.N-1 is renamed to file.N ... file to file.1, the old file.N is
 * replaced, and a new file is opened. A path that is not a regular file
 * (/dev/stdout, a FIFO) is never rotated (bpo-45401).
 *
 * The file is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0640 (less the
 * umask). A batch goes out in one write(2) per file it lands in. Any failure
 * to open, write or rotate is a RETRY with the reason; the lines a failed
 * attempt wrote completely are not written again when the same batch comes
 * back, and a partial line is cut off when the file allows it. reopen (SIGHUP,
 * after logrotate moved the file away) closes and opens file_path again;
 * flush is fdatasync(2).
 */
#ifndef TL_DISPATCHERS_FILE_FILE_H
#define TL_DISPATCHERS_FILE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/sample.h"
#include "dispatchers/dispatcher.h"

/* type file: one JSON object per line, rotated like Python's RotatingFileHandler. */
struct tl_dispatcher_file_conf {
	char *file_path;
	uint64_t max_bytes;   /* rotate at this size; 0 never rotates */
	int64_t backup_count; /* rotated files kept; 0 never rotates */
};

/* The "file" type. Its conf->conf is a struct tl_dispatcher_file_conf. */
extern const struct tl_dispatcher_desc tl_file_dispatcher;

/* ---- The pure part, for tests. */

/* Appends the line of a sample (JSON and '\n') to b. Returns 0, -ENOMEM or -EINVAL. */
int tl_file_format_sample(const struct tl_sample *s, struct tl_buf *b);
/* Appends the line of an event (JSON and '\n') to b. Returns 0, -ENOMEM or -EINVAL. */
int tl_file_format_event(const struct tl_event *e, struct tl_buf *b);

/*
 * The length Python gives to a line of len bytes of UTF-8: its number of
 * code points (a byte that is not a continuation byte counts as one).
 */
size_t tl_file_line_chars(const char *line, size_t len);

/*
 * Python's RotatingFileHandler.shouldRollover for a file of size bytes and a
 * line of chars characters (its '\n' included), where rotating is effective:
 * true when max_bytes > 0, backup_count > 0 and size + chars >= max_bytes.
 */
bool tl_file_should_rotate(uint64_t size, size_t chars, uint64_t max_bytes, int64_t backup_count);

/*
 * The renames of RotatingFileHandler.doRollover: path.(i) to path.(i+1) for i
 * from backup_count - 1 down to 1 when path.(i) exists, then path to path.1
 * when path exists. The caller closes and reopens path around it. Returns 0,
 * or a negative errno with a one-line reason appended to why (may be NULL).
 */
int tl_file_rotate(const char *path, int64_t backup_count, struct tl_buf *why);

#endif
