// From a validated config to a ready engine: the one way the server, the reload and the CLI get one.
import type { ConfigSource } from '../config/load.js';
import { PolicyEngine } from './engine.js';
import { loadPolicies, type LoadOptions } from './loader.js';

export async function createEngine(source: ConfigSource, logger: LoadOptions['logger']): Promise<PolicyEngine> {
  const policies = await loadPolicies(source.config.policies, { baseDir: source.baseDir, source: source.source, logger });
  return new PolicyEngine(policies, { logger });
}
