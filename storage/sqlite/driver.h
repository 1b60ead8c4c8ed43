/*
 * driver.h — the SQLite storage driver, as the registry (storage.c) sees
 * it: one descriptor, static for the life of the program. It takes
 * sqlite:///path URLs.
 */
#ifndef TL_STORAGE_SQLITE_DRIVER_H
#define TL_STORAGE_SQLITE_DRIVER_H

#include "storage/storage.h"

extern const struct tl_storage_driver tl_storage_sqlite;

#endif
