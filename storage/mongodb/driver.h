/*
 * driver.h — the MongoDB storage driver, as the registry (storage.c) sees
 * it: one descriptor, static for the life of the program. It takes
 * mongodb://host[:port]/database[?options] URLs.
 */
#ifndef TL_STORAGE_MONGODB_DRIVER_H
#define TL_STORAGE_MONGODB_DRIVER_H

#include "storage/storage.h"

extern const struct tl_storage_driver tl_storage_mongodb;

#endif
