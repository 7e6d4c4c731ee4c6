/* Bearer tokens (--feedback-token-file) and the TLS key pair (--tls-cert, --tls-key).
 * Tokens are compared in constant time: both sides are hashed to 32 bytes with libsodium's
 * crypto_generichash (so their lengths do not leak either) and the hashes compared with
 * sodium_memcmp. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

char *serve_read_file(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = !buf || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int serve_token_load(const char *path, unsigned char hash[SERVE_TOKEN_HASH_BYTES]) {
    size_t n = 0;
    char *tok = serve_read_file(path, 4096, &n);
    if (!tok) {
        fprintf(stderr, "%s: cannot read the token file %s (at most 4096 bytes)\n", serve_prog, path);
        return -1;
    }
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        n--;
    int rc = 0;
    if (n < 16 || memchr(tok, '\n', n)) {
        fprintf(stderr, "%s: %s: a token is one line of at least 16 characters\n", serve_prog, path);
        rc = -1;
    } else {
        crypto_generichash(hash, SERVE_TOKEN_HASH_BYTES, (const unsigned char *)tok, n, NULL, 0);
    }
    sodium_memzero(tok, n);
    free(tok);
    return rc;
}

unsigned serve_bearer_check(struct MHD_Connection *c, const unsigned char want[SERVE_TOKEN_HASH_BYTES]) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return MHD_HTTP_UNAUTHORIZED;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    unsigned char got[SERVE_TOKEN_HASH_BYTES];
    crypto_generichash(got, sizeof got, (const unsigned char *)tok, strlen(tok), NULL, 0);
    return sodium_memcmp(got, want, sizeof got) == 0 ? 0 : MHD_HTTP_FORBIDDEN;
}
