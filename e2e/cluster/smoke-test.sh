#!/usr/bin/env bash
# Smoke test of a control plane with kubectl: namespaces, a CRD by server-side apply (status
# subresource, printer columns), a custom object and its status, an events.k8s.io/v1 Event and
# a coordination.k8s.io/v1 Lease. Uses the current KUBECONFIG, so run it as
#   e2e/cluster/with-control-plane.sh e2e/cluster/smoke-test.sh
# Env: SMOKE_NS (default berth-smoke-<random>), SMOKE_HOLD=SECS (sleep at the end, to test
# killing the wrapper mid-run).
set -euo pipefail

step() { printf '[smoke] %s\n' "$*" >&2; }
NS="${SMOKE_NS:-berth-smoke-$RANDOM}"
K=(kubectl --request-timeout=30s)

step "kubectl: $(command -v kubectl); server: $("${K[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
"${K[@]}" version 2>/dev/null | sed 's/^/[smoke]   /' >&2 || true
step "get ns"
"${K[@]}" get ns
step "create ns $NS"
"${K[@]}" create ns "$NS"

step "CRD by server-side apply"
"${K[@]}" apply --server-side --validate=false --field-manager=berth-smoke -f - <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.berth.dev
spec:
  group: smoke.berth.dev
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Phase
      type: string
      jsonPath: .status.phase
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
              image: {type: string}
            required: [size]
          status:
            type: object
            properties:
              phase: {type: string}
              observedGeneration: {type: integer, format: int64}
YAML
"${K[@]}" wait --for=condition=Established --timeout=60s crd/widgets.smoke.berth.dev

step "custom object (server-side apply)"
"${K[@]}" apply --server-side --field-manager=berth-smoke -n "$NS" -f - <<'YAML'
apiVersion: smoke.berth.dev/v1alpha1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
  image: nginx:1.25
YAML

step "patch status subresource"
"${K[@]}" -n "$NS" patch widget w1 --subresource=status --type=merge \
  -p '{"status":{"phase":"Running","observedGeneration":1}}' 2>/dev/null \
|| {
  # kubectl older than 1.24 has no --subresource: patch /status through the raw API.
  "${K[@]}" get --raw "/apis/smoke.berth.dev/v1alpha1/namespaces/$NS/widgets/w1" >/dev/null
  curl -fsS --cacert "$BERTH_KUBE_CA_FILE" -H "Authorization: Bearer $(cat "$BERTH_KUBE_TOKEN_FILE")" \
    -X PATCH -H 'Content-Type: application/merge-patch+json' \
    -d '{"status":{"phase":"Running","observedGeneration":1}}' \
    "$BERTH_KUBE_SERVER/apis/smoke.berth.dev/v1alpha1/namespaces/$NS/widgets/w1/status" >/dev/null
}
"${K[@]}" -n "$NS" get widgets
phase="$("${K[@]}" -n "$NS" get widget w1 -o jsonpath='{.status.phase}')"
[[ "$phase" == Running ]] || { step "FAIL: status.phase=$phase"; exit 1; }
# A status written through the main resource must be ignored (status subresource enabled).
"${K[@]}" -n "$NS" patch widget w1 --type=merge -p '{"spec":{"size":4},"status":{"phase":"Bogus"}}' >/dev/null
phase="$("${K[@]}" -n "$NS" get widget w1 -o jsonpath='{.status.phase}')"
[[ "$phase" == Running ]] || { step "FAIL: status changed through the main resource: $phase"; exit 1; }

step "events.k8s.io/v1 Event"
now="$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"
"${K[@]}" create -f - <<YAML
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: w1.smoke
  namespace: $NS
eventTime: "$now"
reportingController: berth.dev/smoke
reportingInstance: smoke-1
action: Reconcile
reason: Scaled
note: scaled widget to 4
type: Normal
regarding:
  apiVersion: smoke.berth.dev/v1alpha1
  kind: Widget
  name: w1
  namespace: $NS
YAML
"${K[@]}" get events.v1.events.k8s.io -n "$NS"

step "coordination.k8s.io/v1 Lease"
"${K[@]}" apply --server-side --field-manager=berth-smoke -f - <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: berth-leader
  namespace: $NS
spec:
  holderIdentity: smoke-1
  leaseDurationSeconds: 15
  acquireTime: "$now"
  renewTime: "$now"
YAML
holder="$("${K[@]}" -n "$NS" get lease berth-leader -o jsonpath='{.spec.holderIdentity}')"
[[ "$holder" == smoke-1 ]] || { step "FAIL: lease holder=$holder"; exit 1; }

step "RBAC: a non-admin identity is refused"
if "${K[@]}" auth can-i create widgets.smoke.berth.dev -n "$NS" --as=someone >/dev/null 2>&1; then
  step "FAIL: RBAC let an unprivileged user create widgets"; exit 1
fi

if [[ -n "${SMOKE_HOLD:-}" ]]; then
  step "holding for ${SMOKE_HOLD}s"
  sleep "$SMOKE_HOLD"
fi
step "OK"
