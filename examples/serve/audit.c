/* Trusted models and the audit trail (issue 19).
 *
 * --trust PUB (repeatable) and --encrypt-key KEY reach the registry's open options: with a trust
 * set, every version the server loads (at start, stage, A/B, --follow) must be signed by one of
 * those keys; without one the server says at start that it runs without signature checks.
 *
 * Admin actions (stage, validate, promote, rollback, canary, shadow, A/B) and automatic rollbacks
 * are appended to the registry's audit log when it has one (.audit.jsonl, made by mlops-registry's
 * first change): the actor is "admin-token:<id>", 8 bytes of the token's hash in hex (never the
 * token), "auto" for automatic rollbacks; the request body, the slots' versions and the result. */
#include <string.h>

#include "serve.h"

int serve_trust_add(serve_opts *o, const char *path) {
    if (o->n_trust == SERVE_MAX_TRUST) {
        fprintf(stderr, "%s: --trust: at most %d keys\n", serve_prog, SERVE_MAX_TRUST);
        return -1;
    }
    o->trust[o->n_trust++] = path;
    return 0;
}

void serve_registry_opts(const serve_opts *o, mlops_registry_opts *ro) {
    mlops_registry_opts_init(ro, MLOPS_REGISTRY_OPTS_VERSION);
    ro->trust_keys = o->trust;
    ro->n_trust_keys = o->n_trust;
    ro->encryption_key = o->encrypt_key;
    ro->actor = "mlops-serve";
    if (o->registry && o->n_trust == 0)
        fprintf(stderr,
                "%s: no --trust keys: registry versions are checked by digest only, without signature "
                "checks\n",
                serve_prog);
}

static json_t *slots(server *s) {
    return json_pack("{s:I, s:I, s:I}", "blue", (json_int_t)atomic_load(&s->slot_version[MLOPS_SLOT_BLUE]),
                     "green", (json_int_t)atomic_load(&s->slot_version[MLOPS_SLOT_GREEN]), "previous",
                     (json_int_t)atomic_load(&s->slot_version[MLOPS_SLOT_PREVIOUS]));
}

void serve_audit(server *s, const char *action, json_t *request, unsigned code, const char *why) {
    if (!s->registry) return;
    char actor[64] = "auto", result[600] = "ok";
    if (s->admin_auth && strcmp(action, "auto-rollback") != 0) {
        strcpy(actor, "admin-token:");
        for (int i = 0; i < 8; i++)
            snprintf(actor + strlen(actor), 3, "%02x", s->admin_token[i]);
    }
    if (code != 200) snprintf(result, sizeof result, "%u: %s", code, why ? why : "");
    json_t *f = json_pack("{s:s, s:o}", "name", s->opts->reg_name, "slots", slots(s));
    if (f && request) json_object_set(f, "request", request);
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(f);
    mlops_status st = mlops_registry_audit_append(s->registry, actor, action, text, result);
    free(text);
    if (st != MLOPS_OK && st != MLOPS_ESTATE) /* ESTATE: the registry keeps no audit log */
        fprintf(stderr, "%s: audit log: %s\n", serve_prog, mlops_last_error());
}
