/* libFuzzer harness: the request bodies and body headers of mlops-serve
 * (examples/serve/body.c), the parsers that see every client's bytes before the
 * server does anything with them. The first input byte picks the parser, the rest
 * is its input. Invariants: a refusal always says why; an accepted body yields
 * values within the documented ranges. Seeds: corpus/serve_body. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/serve/body.h"
#include "fuzz_util.h"

/* A NUL-terminated copy (the header parsers take C strings). */
static char *cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static void admin(const char *body, size_t len) {
    char why[512] = "";
    json_t *in = serve_body_admin(body, len, why, sizeof why);
    if (!in) {
        if (!why[0]) abort();
        return;
    }
    if (!json_is_object(in)) abort();
    serve_gate g;
    why[0] = '\0';
    if (serve_body_gate(in, &g, why, sizeof why) == 0) {
        if (!(g.max_increase >= 0)) abort();
    } else if (!why[0]) {
        abort();
    }
    unsigned version;
    const char *alias;
    why[0] = '\0';
    if (serve_body_stage(in, &version, &alias, why, sizeof why) == 0) {
        if (!alias && version == 0) abort();
    } else if (!why[0]) {
        abort();
    }
    double f;
    why[0] = '\0';
    if (serve_body_canary(in, &f, why, sizeof why) == 0) {
        if (!(f >= 0 && f <= 1)) abort();
    } else if (!why[0]) {
        abort();
    }
    int enabled;
    why[0] = '\0';
    if (serve_body_shadow(in, &enabled, why, sizeof why) == 0) {
        if (enabled != 0 && enabled != 1) abort();
    } else if (!why[0]) {
        abort();
    }
    json_decref(in);
}

static void feedback(const char *body, size_t len) {
    json_t *doc;
    const char *id;
    double label;
    char why[512] = "";
    if (serve_body_feedback(body, len, &doc, &id, &label, why, sizeof why) != 0) {
        if (!why[0] || doc) abort();
        return;
    }
    if (!id || isnan(label) || !json_is_object(doc)) abort();
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0: { /* predict: the row bound never exceeds what the body can hold */
        size_t cap = serve_body_row_cap(body, len);
        if (cap < 1 || cap > len / 15 + 1) abort();
        break;
    }
    case 1:
        feedback(body, len);
        break;
    case 2:
        admin(body, len);
        break;
    default: { /* Content-Length and Content-Type values */
        char *s = cstr(data + 1, len);
        unsigned long long n;
        if (serve_body_content_length(s, &n) == 0 && (s[0] < '0' || s[0] > '9')) abort();
        (void)serve_body_is_json_type(s);
        free(s);
    }
    }
    return 0;
}
