/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum of the buffer's records and
 * dead letters (collector/buffer.h). Thread-safe: the tables are built once,
 * on the first call.
 */
#ifndef TL_COLLECTOR_CRC32C_H
#define TL_COLLECTOR_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C (Castagnoli, reflected, as iSCSI and ext4) of n bytes, continuing
 * from crc (0 to start): crc32c(crc32c(0, a), b) == crc32c(0, a || b).
 * SSE4.2 when the CPU has it, slicing-by-8 otherwise.
 */
uint32_t tl_crc32c(uint32_t crc, const void *data, size_t n);

#endif
