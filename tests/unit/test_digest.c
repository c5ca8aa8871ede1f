/* test_digest.c: lib/digest.h: SHA-256 against FIPS 180-4 vectors and sha256sum(1),
 * and the constant-time comparison. */
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "digest.h"
#include "str.h"
#include "suites.h"
#include "testutil.h"

static void check_digest(const void *data, size_t n, const char *want_hex, unsigned line)
{
	unsigned char out[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	/* An exact-size copy, so a read past the input is caught. */
	char *copy = tu_exact(data, n);

	memset(out, 0, sizeof(out));
	gw_sha256(copy, n, out);
	str_hex_encode(out, SHA256_LEN, hex);
	tu_assert_str(hex, want_hex, "sha256 digest", line, __FILE__, __func__);
	free(copy);
}

static void check_repeat(char c, size_t n, const char *want_hex, unsigned line)
{
	char *data = gw_malloc(n ? n : 1);

	memset(data, c, n);
	check_digest(data, n, want_hex, line);
	free(data);
}

static void test_empty(void)
{
	check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		     __LINE__);
}

static void test_abc(void)
{
	check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		     __LINE__);
}

static void test_448_bits(void)
{
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	CU_ASSERT_EQUAL(strlen(m), 56);
	check_digest(m, strlen(m),
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", __LINE__);
}

static void test_896_bits(void)
{
	const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
			"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

	check_digest(m, strlen(m),
		     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1", __LINE__);
}

static void test_million_a(void)
{
	check_repeat('a', 1000000,
		     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", __LINE__);
}

/* Lengths around the padding boundary (55 fits one block, 56 needs two). */
static void test_padding_boundaries(void)
{
	check_repeat('a', 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
		     __LINE__);
	check_repeat('a', 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
		     __LINE__);
	check_repeat('a', 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
		     __LINE__);
	check_repeat('a', 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
		     __LINE__);
	check_repeat('a', 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
		     __LINE__);
	check_repeat('a', 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb",
		     __LINE__);
	check_repeat('a', 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c",
		     __LINE__);
	check_repeat('a', 128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e",
		     __LINE__);
}

static void test_binary(void)
{
	unsigned char all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	check_digest(all, sizeof(all),
		     "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880", __LINE__);
	check_digest("a\0b", 3, "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138",
		     __LINE__);
}

static void test_memeq_ct(void)
{
	/* Exact-size buffers: the comparison must not read past n. */
	char *a = tu_exact("secret", 6), *b = tu_exact("secreT", 6);

	CU_ASSERT_TRUE(gw_memeq_ct(a, "secret", 6));
	CU_ASSERT_FALSE(gw_memeq_ct(a, b, 6));
	CU_ASSERT_TRUE(gw_memeq_ct(a, b, 5));
	CU_ASSERT_FALSE(gw_memeq_ct("Secret", a, 6));
	CU_ASSERT_TRUE(gw_memeq_ct("a\0b", "a\0b", 3));
	CU_ASSERT_FALSE(gw_memeq_ct("a\0b", "a\0c", 3));
	CU_ASSERT_TRUE(gw_memeq_ct("", "", 0));
	free(a);
	free(b);
}

void suite_digest(void)
{
	static const struct tu_test tests[] = {
		{ "empty message", test_empty, false },
		{ "\"abc\"", test_abc, false },
		{ "448-bit message", test_448_bits, false },
		{ "896-bit message", test_896_bits, false },
		{ "one million 'a'", test_million_a, false },
		{ "lengths 55, 56, 63, 64, 65, 119, 120, 128", test_padding_boundaries, false },
		{ "binary input with NUL bytes", test_binary, false },
		{ "memeq_ct: equal, different, NUL bytes, empty", test_memeq_ct, false },
	};
	tu_register("digest", NULL, NULL, tests, GW_ARRAY_LEN(tests));
}
