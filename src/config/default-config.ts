// The config `tollgate serve` and `tollgate check` run with when none is given (the Docker image's
// default command too): both built-in policies, official Docker Hub images and the Kubernetes
// project's registry allowed, and no whole shared registry, which would admit any of its users' images.
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
`;
