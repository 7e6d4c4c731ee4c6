#!/usr/bin/env bash
# deploy-model.sh: take a model from "trained" to "serving", one CI step at a time.
#
#   deploy-model.sh --registry DIR --name NAME --holdout HOLDOUT.csv --label COLUMN
#                   (--model MODEL.json | --train TRAIN.csv --objective OBJ [--rounds 100] [--max-depth 6])
#                   [--gate "ARGS"] [--gate-vs-production "ARGS"] [--schema SCHEMA.json]
#                   [--server URL] [--timeout 120] [--out DIR]
#
# Steps (each one logged as "deploy-model: <step>: ..."):
#   1. train   mlops-train, when --train is given (otherwise --model is the candidate)
#   2. gate    mlops-gate on the holdout: the --gate thresholds always, and, when the registry has a
#              `production` version, the --gate-vs-production thresholds against it (as baseline,
#              loaded from the registry with its digest checked). Writes OUT/gate.json and
#              OUT/gate.xml (JUnit, for the CI's test report). A failed check stops here: exit 3.
#   3. put     mlops-registry put, the gate report stored as the version's metadata; signed with
#              --sign "$MLOPS_SIGN_KEY" when that variable is set
#   4. alias   the `candidate` alias moves to the new version
#   5. serve   with --server: a running `mlops-serve --registry DIR --name NAME --alias candidate
#              --follow SECONDS --gate-data HOLDOUT --gate-label COLUMN` sees the alias move, stages
#              the version, runs its own gate (log loss or RMSE no worse than the live model's) and
#              promotes it. The script watches GET /model (model_version) and GET /metrics
#              (ml_deploy_gate_failures_total). Promoted: `production` moves to the version, exit 0.
#              Refused by the server's gate (or no answer within --timeout): `candidate` goes back
#              to the production version (rollback; removed when there is none), exit 3 (or 4).
#              Without --server there is no second gate: `production` moves at once.
# Run one pipeline per model at a time (the workflow's concurrency group does that): the gate
# failure counter is the server's, not this run's.
#
# Environment: MLOPS_BIN_DIR  directory of the mlops-* programs (default: found on PATH)
#              MLOPS_SIGN_KEY signing key for the registry (optional)
# Exit status: 0 deployed, 2 usage or tool error, 3 refused by a gate, 4 the server did not decide in time.
set -euo pipefail

me=deploy-model
log() { printf '%s: %s\n' "$me" "$*"; }
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 2; }
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

registry="" name="" holdout="" label="" model="" train="" objective="" rounds=100 depth=6
gate_args="" vs_args="" schema="" server="" timeout=120 out=""
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case "$1" in
        --registry) registry=$2 ;;
        --name) name=$2 ;;
        --holdout) holdout=$2 ;;
        --label) label=$2 ;;
        --model) model=$2 ;;
        --train) train=$2 ;;
        --objective) objective=$2 ;;
        --rounds) rounds=$2 ;;
        --max-depth) depth=$2 ;;
        --gate) gate_args=$2 ;;
        --gate-vs-production) vs_args=$2 ;;
        --schema) schema=$2 ;;
        --server) server=${2%/} ;;
        --timeout) timeout=$2 ;;
        --out) out=$2 ;;
        *) usage ;;
    esac
    shift 2
done
if [ -z "$registry" ] || [ -z "$name" ] || [ -z "$holdout" ] || [ -z "$label" ]; then usage; fi
if { [ -n "$model" ] && [ -n "$train" ]; } || { [ -z "$model" ] && [ -z "$train" ]; }; then
    die "give --model FILE or --train CSV --objective OBJ (one of them)"
fi
[ -z "$train" ] || [ -n "$objective" ] || die "--train needs --objective"
case "$timeout" in '' | *[!0-9]*) die "--timeout wants whole seconds" ;; esac

bin() { if [ -n "${MLOPS_BIN_DIR:-}" ]; then printf '%s/%s' "$MLOPS_BIN_DIR" "$1"; else command -v "$1" || die "$1 not found"; fi; }
GATE=$(bin mlops-gate) REGISTRY=$(bin mlops-registry) TRAIN=$(bin mlops-train)
# mlops-registry [--sign KEY] --registry DIR COMMAND ...: global options go before the command
reg() { "$REGISTRY" --registry "$registry" "$@"; }

if [ -z "$out" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/deploy-model.XXXXXX")
fi
mkdir -p "$out"

# The version an alias names, or nothing when the alias (or the registry) does not exist yet.
alias_version() {
    reg info "$name" "$1" 2>/dev/null | grep -o '"version":[0-9]*' | head -n 1 | cut -d: -f2 || true
}

# 1. train
if [ -n "$train" ]; then
    model="$out/model.json"
    "$TRAIN" --data "$train" --label "$label" --objective "$objective" --rounds "$rounds" \
        --max-depth "$depth" --out "$model" --force >/dev/null || die "mlops-train failed"
    log "train: $model ($objective, $rounds rounds, depth $depth)"
fi

# 2. gate
production=$(alias_version production)
# shellcheck disable=SC2206 # thresholds are words: "--min-accuracy 0.9 --max-memory-mb 64"
args=(--candidate "$model" --data "$holdout" --label "$label" $gate_args)
if [ -n "$production" ]; then
    # shellcheck disable=SC2206
    args+=(--registry "$registry" --name "$name" --baseline-alias production $vs_args)
fi
[ -z "$schema" ] || args+=(--schema "$schema")
rc=0
"$GATE" "${args[@]}" --json --junit "$out/gate.xml" >"$out/gate.json" || rc=$?
cat "$out/gate.json"
case $rc in
    0) log "gate: passed${production:+ (baseline: production = version $production)}" ;;
    3) log "gate: REFUSED: $(grep -A20 '"failed"' "$out/gate.json" | tr -d ' \n' | sed 's/.*"failed":\[\([^]]*\)\].*/\1/')"
       exit 3 ;;
    *) die "mlops-gate failed (exit $rc)" ;;
esac

# 3. put (the gate's report becomes the version's metadata)
commit=$(printf '%s' "${GITHUB_SHA:-local}" | tr -cd 'A-Za-z0-9._-')
printf '{"pipeline":"deploy-model","commit":"%s","gate":%s}' "$commit" "$(cat "$out/gate.json")" >"$out/metadata.json"
put=(put "$name" "$model" --metadata "$(cat "$out/metadata.json")" --create)
sign=()
[ -z "${MLOPS_SIGN_KEY:-}" ] || sign=(--sign "$MLOPS_SIGN_KEY")
version=$("$REGISTRY" "${sign[@]}" --registry "$registry" "${put[@]}") || die "mlops-registry put failed"
log "put: $name version $version${MLOPS_SIGN_KEY:+ (signed)}"

# How step 5 watches the server; its gate failures are read before step 4 moves the alias
served() { curl -fsS --max-time 5 "$server/model" 2>/dev/null | grep -o '"model_version":[0-9]*' | cut -d: -f2 || true; }
gate_failures() {
    curl -fsS --max-time 5 "$server/metrics" 2>/dev/null | awk '$1 == "ml_deploy_gate_failures_total" { print $2 }' || true
}
rollback() {
    if [ -n "$production" ]; then
        reg alias set "$name" candidate "$production" && log "rollback: candidate -> $production (production)"
    else
        reg alias rm "$name" candidate && log "rollback: candidate alias removed (no production version)"
    fi
}
if [ -n "$server" ]; then
    # read before the alias moves: a server that refuses faster than a read after it would leave
    # the counter already raised, and the refusal unseen until --timeout
    failures_before=$(gate_failures)
    [ -n "$failures_before" ] || die "no answer from $server/metrics"
fi

# 4. alias
reg alias set "$name" candidate "$version" || die "could not move the candidate alias"
log "alias: candidate -> $version"

if [ -z "$server" ]; then
    reg alias set "$name" production "$version" || die "could not move the production alias"
    log "alias: production -> $version (no --server: mlops-gate was the only gate)"
    exit 0
fi

# 5. serve: the running server stages, gates and promotes; we watch.
deadline=$((SECONDS + timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
    if [ "$(served)" = "$version" ]; then
        reg alias set "$name" production "$version" || die "could not move the production alias"
        log "serve: $server promoted version $version; production -> $version"
        exit 0
    fi
    now=$(gate_failures)
    if [ -n "$now" ] && awk -v a="$now" -v b="$failures_before" 'BEGIN { exit !(a > b) }'; then
        log "serve: REFUSED by the server's gate ($server still serves version $(served))"
        rollback
        exit 3
    fi
    sleep 0.5
done
log "serve: $server did not promote version $version within ${timeout}s"
rollback
exit 4
