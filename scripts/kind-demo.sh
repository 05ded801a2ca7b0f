#!/usr/bin/env bash
# tollgate on a local kind cluster, end to end: create the cluster, build and load the image, make
# the certificates, apply the manifests, wait for the rollout, then show an admitted pod (with the
# injected annotation) and a refused one. Needs docker, kind, kubectl, node and npm.
#   scripts/kind-demo.sh            # cluster "tollgate" (TOLLGATE_KIND_CLUSTER to change it)
#   kind delete cluster --name tollgate
set -euo pipefail

cluster=${TOLLGATE_KIND_CLUSTER:-tollgate}
context="kind-${cluster}"
image=tollgate:dev
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

for tool in docker kind kubectl node npm; do
  command -v "$tool" >/dev/null || { echo "kind-demo: $tool is needed" >&2; exit 1; }
done
step() { printf '\n==> %s\n' "$*"; }
tollgate() { node dist/src/cli/bin.js "$@"; }
k() { kubectl --context "$context" "$@"; }

step "kind cluster ${cluster}"
if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 120s
fi

step "image ${image}"
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"

step "certificates (certs/kind) and the manifests' caBundle"
npm run build --silent
# The manifests are copied, so the checkout's own files keep their empty caBundle.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R manifests "$work/manifests"
tollgate certs --out certs/kind --manifests "$work/manifests"

step "apply"
k apply -k "$work/manifests"
# Same CA and certificate (reused from certs/kind): stored as the Secrets the pods mount.
tollgate certs --out certs/kind --context "$context"
k -n tollgate-system rollout status deployment/tollgate --timeout=180s

step "an allowed pod, with the injected annotation"
k create namespace tollgate-demo --dry-run=client -o yaml | k apply -f -
k -n tollgate-demo delete pod allowed denied --ignore-not-found --wait=true >/dev/null
k -n tollgate-demo run allowed --image=docker.io/library/nginx:1.27 --restart=Never
echo "tollgate.dev/admitted=$(k -n tollgate-demo get pod allowed -o jsonpath='{.metadata.annotations.tollgate\.dev/admitted}')"

step "a denied pod (an image from a registry that is not allowed)"
if k -n tollgate-demo run denied --image=quay.io/prometheus/busybox:latest --restart=Never; then
  echo "kind-demo: the pod was admitted, but tollgate should have refused it" >&2
  exit 1
fi
echo "refused, as it should be"
