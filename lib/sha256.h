/* sha256.h: SHA-256 (FIPS 180-4), for credential_sha256 and admin_key_sha256. */
#ifndef GW_SHA256_H
#define GW_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* Writes the 32-byte digest of data[0..n) into out. */
void sha256(const void *data, size_t n, unsigned char out[SHA256_LEN]);

#endif
