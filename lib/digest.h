/* digest.h: SHA-256 and constant-time comparison, from libcrypto (OpenSSL),
 * for credential_sha256 and admin_key_sha256. */
#ifndef GW_DIGEST_H
#define GW_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define SHA256_LEN 32

/* Writes the 32-byte SHA-256 digest of data[0..n) into out. Aborts when
 * libcrypto cannot allocate its context (the out-of-memory policy of gw.h).
 * SHA-256 is fetched from libcrypto once per process. */
void gw_sha256(const void *data, size_t n, unsigned char out[SHA256_LEN]);

/* True when a[0..n) equals b[0..n), in time that depends on n alone
 * (CRYPTO_memcmp). */
bool gw_memeq_ct(const void *a, const void *b, size_t n);

#endif
