/* digest.c: thin wrappers over libcrypto's SHA-256 and CRYPTO_memcmp. */
#include "digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* SHA-256 fetched once per process: a constant, like EVP_sha256() itself,
 * without the implicit fetch EVP_Digest does for it on every call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void sha256_failed(void)
{
	fputs("aigw: libcrypto could not compute SHA-256\n", stderr);
	abort();
}

void gw_sha256(const void *data, size_t n, unsigned char out[SHA256_LEN])
{
	unsigned int len = 0;

	if (pthread_once(&sha256_once, sha256_fetch) != 0 || !sha256_md)
		sha256_failed();
	if (!EVP_Digest(data, n, out, &len, sha256_md, NULL) || len != SHA256_LEN)
		sha256_failed();
}

bool gw_memeq_ct(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
