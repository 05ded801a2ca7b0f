// The config `tollgate serve` runs with when none is given: both built-in policies, with settings
// that make a demo meaningful (official Docker Hub images and two well-known registries allowed).
export const DEFAULT_CONFIG_YAML = `
policies:
  - module: annotation-injection
    failurePolicy: Ignore
    timeoutMs: 500
    config:
      annotations:
        tollgate.dev/admitted: "true"
  - module: image-registry-allowlist
    failurePolicy: Fail
    timeoutMs: 500
    config:
      registries:
        - docker.io/library
        - registry.k8s.io
        - ghcr.io
`;
