/* GET / and GET /ui: the status page (examples/serve/ui/status.html, compiled in as serve_ui_page).
 * The page is self-contained and fetches the JSON endpoints itself. Its one inline <style> and one
 * inline <script> carry a nonce drawn for each response, and the Content-Security-Policy allows
 * nothing else: no other script or style, no inline attribute styles or handlers, no frames, no
 * forms, connections to this origin only. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

extern const char serve_ui_page[]; /* generated from ui/status.html (examples/meson.build) */
extern const size_t serve_ui_page_len;

#define NONCE_MARK "__NONCE__"
#define NONCE_BYTES 18 /* 24 base64 characters */

/* The page with every NONCE_MARK replaced by `nonce`; malloc'd, NULL when out of memory. */
static char *page_with_nonce(const char *nonce, size_t *len) {
    size_t mark = strlen(NONCE_MARK), nl = strlen(nonce), n = 0;
    for (const char *p = serve_ui_page; (p = strstr(p, NONCE_MARK)); p += mark)
        n++;
    char *out = malloc(serve_ui_page_len + n * nl + 1), *o = out;
    if (!out) return NULL;
    const char *p = serve_ui_page, *q;
    while ((q = strstr(p, NONCE_MARK))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, nonce, nl);
        o += nl;
        p = q + mark;
    }
    size_t rest = strlen(p);
    memcpy(o, p, rest + 1);
    *len = (size_t)(o - out) + rest;
    return out;
}

enum MHD_Result do_ui(server *s, struct MHD_Connection *c, request *rq) {
    unsigned char raw[NONCE_BYTES];
    char nonce[sodium_base64_ENCODED_LEN(NONCE_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(nonce, sizeof nonce, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    size_t len = 0;
    char *body = page_with_nonce(nonce, &len);
    if (!body) return send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    char csp[512];
    snprintf(csp, sizeof csp,
             "default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; connect-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             nonce, nonce);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return send_response(s, c, rq, MHD_HTTP_OK, resp);
}
