/*
 * sqlite.c — the sqlite storage driver. Placeholder: connects to nothing yet.
 */
#include "config.h"

#include "storage/storage.h"

#include <errno.h>

static int open_sqlite(const char *url, const struct tl_storage_options *opt, void **out_ctx,
		   struct tl_buf *why)
{
	(void)url;
	(void)opt;
	*out_ctx = NULL;
	if (why)
		tl_buf_puts(why, "the sqlite driver is not written yet");
	return -ENOTSUP;
}

static void close_sqlite(void *ctx)
{
	(void)ctx;
}

const struct tl_storage_driver tl_storage_sqlite = {
	.name = "sqlite",
	.backend = TL_STORAGE_SQLITE,
	.open = open_sqlite,
	.close = close_sqlite,
};
