// A trivial validating policy for the policy-count curve: loaded by path as a user's module is,
// it reads one field and allows, so what is measured is the chain's cost per policy, not the policy's.
export default {
  name: 'noop-validating',
  kind: 'validating',
  create() {
    return {
      validate(request: { object?: { metadata?: { labels?: unknown } } | null }) {
        return { allowed: request.object?.metadata?.labels !== null };
      },
    };
  },
};
