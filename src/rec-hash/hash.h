/*
 * hash.h - the digests of rec-hash over OpenSSL 3's EVP interfaces:
 * RIPEMD-160 and SHA-256 through EVP_MD, HMAC-SHA-256 through EVP_MAC.
 * Only rec-hash uses it.
 */
#ifndef REC_HASH_HASH_H
#define REC_HASH_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"

enum algo { ALGO_RIPEMD160, ALGO_SHA256, ALGO_HMAC_SHA256 };

/* The longest digest in hex (SHA-256), without the NUL. */
#define HASH_HEX_MAX 64

struct hasher;

/* "ripemd160", "sha256" or "hmac-sha256" to an algo; -1 otherwise. */
int algo_parse(const char *s);
const char *algo_name(enum algo a);

/*
 * Set up algorithm a.  key (keylen bytes, copied by OpenSSL) is used only
 * by ALGO_HMAC_SHA256 and must then not be NULL.  When the algorithm is
 * not in the providers already loaded (RIPEMD-160 lives in the legacy
 * provider before OpenSSL 3.0.7), the default and legacy providers are
 * loaded and the fetch retried; *legacy tells the caller it happened.
 * NULL with err: 78 when OpenSSL has no such algorithm, 70 otherwise.
 */
struct hasher *hasher_new(enum algo a, const unsigned char *key,
    size_t keylen, bool *legacy, struct ep_error *err);
/*
 * Hash len bytes at s; write the lowercase hex digest and a NUL to hex
 * (HASH_HEX_MAX + 1 bytes) and return its length, or -1 with err (70).
 */
int hasher_hex(struct hasher *h, const char *s, size_t len, char *hex,
    struct ep_error *err);
/* Free h and unload the providers it loaded; NULL is a no-op. */
void hasher_free(struct hasher *h);

#endif
