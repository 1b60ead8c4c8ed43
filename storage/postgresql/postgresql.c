/*
 * postgresql.c — the postgresql storage driver. Placeholder: connects to nothing yet.
 */
#include "config.h"

#include "storage/storage.h"

#include <errno.h>

static int open_postgresql(const char *url, const struct tl_storage_options *opt, void **out_ctx,
		   struct tl_buf *why)
{
	(void)url;
	(void)opt;
	*out_ctx = NULL;
	if (why)
		tl_buf_puts(why, "the postgresql driver is not written yet");
	return -ENOTSUP;
}

static void close_postgresql(void *ctx)
{
	(void)ctx;
}

const struct tl_storage_driver tl_storage_postgresql = {
	.name = "postgresql",
	.backend = TL_STORAGE_POSTGRESQL,
	.open = open_postgresql,
	.close = close_postgresql,
};
