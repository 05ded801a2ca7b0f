// Validating policy (an example module, plain JavaScript with no imports): every object must carry
// a team label, optionally from a known list, and a workload's pods should carry it too.

/** Workload kinds whose pods come from `spec.template`. */
const TEMPLATED = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicationController']);

function labelOf(metadata, key) {
  const labels = metadata && typeof metadata.labels === 'object' && metadata.labels !== null ? metadata.labels : {};
  // Object.hasOwn: a label named "constructor" must not find Object.prototype.constructor.
  return Object.hasOwn(labels, key) && typeof labels[key] === 'string' ? labels[key] : undefined;
}

export default {
  name: 'require-team-label',
  kind: 'validating',
  description: 'Every object carries a team label naming a known team.',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      label: { type: 'string', minLength: 1, default: 'team' },
      teams: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
    },
  },
  create(config) {
    if (config.teams && config.teams.length === 0) {
      // A PolicyConfigError (any Error with this name and a path) names the config field at fault.
      throw Object.assign(new Error('must list at least one team, or be left out'), { name: 'PolicyConfigError', path: 'teams' });
    }
    const teams = config.teams ? new Set(config.teams) : undefined;
    const path = `metadata.labels[${JSON.stringify(config.label)}]`;
    return {
      validate(request) {
        if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return { allowed: true };
        const object = request.object;
        if (!object) return { allowed: true };
        const kind = request.kind.kind;
        const team = labelOf(object.metadata, config.label);
        if (team === undefined || team === '') {
          return { allowed: false, violations: [{ path, message: `a ${kind} needs a "${config.label}" label naming the team that owns it` }] };
        }
        if (teams && !teams.has(team)) {
          return { allowed: false, violations: [{ path, message: `"${team}" is not a known team (known: ${[...teams].join(', ')})` }] };
        }
        const warnings = [];
        if (TEMPLATED.has(kind) && labelOf(object.spec?.template?.metadata, config.label) === undefined) {
          warnings.push(`the pods of this ${kind} will not carry the "${config.label}" label (set spec.template.metadata.labels)`);
        }
        return { allowed: true, warnings };
      },
    };
  },
};
