/*
 * hash.c - RIPEMD-160, SHA-256 and HMAC-SHA-256 over OpenSSL 3.
 *
 * One EVP_MD_CTX (or EVP_MAC_CTX) is kept for the whole run and
 * re-initialised per value: fetching an algorithm is the expensive part,
 * so it is done once.  EVP_MAC_init with a NULL key reuses the key set
 * the first time, without hashing it again.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "hash.h"

struct hasher {
	enum algo algo;
	EVP_MD *md;
	EVP_MD_CTX *mdctx;
	EVP_MAC *mac;
	EVP_MAC_CTX *macctx;
	OSSL_PROVIDER *prov_default, *prov_legacy;
};

static const char *const names[] = {
	[ALGO_RIPEMD160] = "ripemd160",
	[ALGO_SHA256] = "sha256",
	[ALGO_HMAC_SHA256] = "hmac-sha256",
};

int
algo_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
algo_name(enum algo a)
{
	return names[a];
}

/* OpenSSL's own reason for the last failure, or a fallback. */
static const char *
ossl_why(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

static EVP_MD *
fetch_md(struct hasher *h, const char *name, bool *legacy)
{
	EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);

	if (md != NULL)
		return md;
	/*
	 * Loading any provider explicitly switches off the implicit default
	 * one, so load both.  Debian 12's OpenSSL has RIPEMD-160 in the
	 * default provider; older 3.0 releases only in the legacy one.
	 */
	ERR_clear_error();
	if (!OSSL_PROVIDER_available(NULL, "default"))
		h->prov_default = OSSL_PROVIDER_load(NULL, "default");
	h->prov_legacy = OSSL_PROVIDER_load(NULL, "legacy");
	if (h->prov_legacy != NULL && legacy != NULL)
		*legacy = true;
	return EVP_MD_fetch(NULL, name, NULL);
}

struct hasher *
hasher_new(enum algo a, const unsigned char *key, size_t keylen,
    bool *legacy, struct ep_error *err)
{
	struct hasher *h = ep_xcalloc(1, sizeof(*h));
	const char *mdname = a == ALGO_RIPEMD160 ? "RIPEMD160" : "SHA256";
	char why[256];

	h->algo = a;
	if (legacy != NULL)
		*legacy = false;
	if (a == ALGO_HMAC_SHA256) {
		OSSL_PARAM params[2];

		h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		if (h->mac == NULL) {
			ERR_clear_error();
			if (!OSSL_PROVIDER_available(NULL, "default"))
				h->prov_default = OSSL_PROVIDER_load(NULL,
				    "default");
			h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		}
		if (h->mac == NULL) {
			ep_error_set(err, EP_EXIT_CONFIG, "HMAC is not "
			    "available in this OpenSSL: %s",
			    ossl_why(why, sizeof(why)));
			goto fail;
		}
		h->macctx = EVP_MAC_CTX_new(h->mac);
		params[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_MAC_PARAM_DIGEST, (char *)mdname, 0);
		params[1] = OSSL_PARAM_construct_end();
		if (h->macctx == NULL ||
		    !EVP_MAC_init(h->macctx, key, keylen, params)) {
			ep_error_set(err, EP_EXIT_CONFIG, "cannot set up "
			    "HMAC-SHA-256: %s", ossl_why(why, sizeof(why)));
			goto fail;
		}
		return h;
	}
	h->md = fetch_md(h, mdname, legacy);
	if (h->md == NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "%s is not available in "
		    "this OpenSSL (default and legacy providers tried): %s",
		    mdname, ossl_why(why, sizeof(why)));
		goto fail;
	}
	h->mdctx = EVP_MD_CTX_new();
	if (h->mdctx == NULL) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "cannot set up %s: %s",
		    mdname, ossl_why(why, sizeof(why)));
		goto fail;
	}
	return h;
fail:
	hasher_free(h);
	return NULL;
}

int
hasher_hex(struct hasher *h, const char *s, size_t len, char *hex,
    struct ep_error *err)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t mlen = 0;
	char why[256];
	int ok;

	if (h->macctx != NULL) {
		ok = EVP_MAC_init(h->macctx, NULL, 0, NULL) &&
		    EVP_MAC_update(h->macctx, (const unsigned char *)s, len) &&
		    EVP_MAC_final(h->macctx, md, &mlen, sizeof(md));
		n = (unsigned int)mlen;
	} else {
		ok = EVP_DigestInit_ex2(h->mdctx, h->md, NULL) &&
		    EVP_DigestUpdate(h->mdctx, s, len) &&
		    EVP_DigestFinal_ex(h->mdctx, md, &n);
	}
	if (!ok || n * 2 > HASH_HEX_MAX) {
		ep_error_set(err, EP_EXIT_SOFTWARE, "%s failed: %s",
		    algo_name(h->algo), ossl_why(why, sizeof(why)));
		return -1;
	}
	for (unsigned int i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	return (int)(2 * n);
}

void
hasher_free(struct hasher *h)
{
	if (h == NULL)
		return;
	EVP_MAC_CTX_free(h->macctx);
	EVP_MAC_free(h->mac);
	EVP_MD_CTX_free(h->mdctx);
	EVP_MD_free(h->md);
	if (h->prov_legacy != NULL)
		OSSL_PROVIDER_unload(h->prov_legacy);
	if (h->prov_default != NULL)
		OSSL_PROVIDER_unload(h->prov_default);
	free(h);
}
