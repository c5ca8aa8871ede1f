/* digest.c: thin wrappers over libcrypto's SHA-256 and CRYPTO_memcmp. */
#include "digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

void gw_sha256(const void *data, size_t n, unsigned char out[SHA256_LEN])
{
	unsigned int len = 0;

	if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) || len != SHA256_LEN) {
		fputs("aigw: libcrypto could not compute SHA-256\n", stderr);
		abort();
	}
}

bool gw_memeq_ct(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
