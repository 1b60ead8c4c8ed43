/*
 * driver.h — the PostgreSQL storage driver, as the registry (storage.c)
 * sees it: one descriptor, static for the life of the program. It takes
 * postgresql://, postgres:// and postgresql+psycopg2:// URLs.
 */
#ifndef TL_STORAGE_POSTGRESQL_DRIVER_H
#define TL_STORAGE_POSTGRESQL_DRIVER_H

#include "storage/storage.h"

extern const struct tl_storage_driver tl_storage_postgresql;

#endif
