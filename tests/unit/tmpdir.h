/*
 * tmpdir.h — the unit tests' temporary directories: made with mkdtemp()
 * under $TMPDIR (or /tmp), removed with everything in them afterwards.
 */
#ifndef TL_TESTS_TMPDIR_H
#define TL_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Makes "$TMPDIR/<name>-XXXXXX" into dir (size bytes). Returns 0 or -1. */
static inline int tl_test_mkdtemp(char *dir, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	return mkdtemp(dir) ? 0 : -1;
}

static inline int tl_test_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Removes dir and everything in it. */
static inline void tl_test_rmtree(const char *dir)
{
	nftw(dir, tl_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
