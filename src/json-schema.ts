// One way to compile JSON Schemas and to turn ajv's errors into "where: what" messages.
import { Ajv, type ErrorObject, type Options } from 'ajv';

/**
 * A fresh ajv instance. Never coerces, never removes or defaults fields: what is validated is left
 * exactly as it was. `allErrors` stays off (ajv documents it as a denial-of-service risk on
 * untrusted input).
 */
export function createAjv(options: Options = {}): Ajv {
  return new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, ...options });
}

/** `/policies/1/config/registries` -> `policies[1].config.registries` */
export function formatInstancePath(instancePath: string, root = ''): string {
  let out = root;
  for (const raw of instancePath.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** A readable description of the first ajv error, naming the path of the bad field. */
export function describeAjvError(error: ErrorObject | undefined, root = ''): string {
  if (!error) return `${root || 'value'} is invalid`;
  let where = formatInstancePath(error.instancePath, root);
  let what = error.message ?? 'is invalid';
  if (error.keyword === 'required') {
    const missing = String((error.params as { missingProperty?: string }).missingProperty ?? '');
    where = formatInstancePath(`${error.instancePath}/${missing.replace(/~/g, '~0').replace(/\//g, '~1')}`, root);
    what = 'is required';
  } else if (error.keyword === 'additionalProperties') {
    const extra = String((error.params as { additionalProperty?: string }).additionalProperty ?? '');
    where = formatInstancePath(`${error.instancePath}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}`, root);
    what = 'is not a known field';
  } else if ((error as { propertyName?: string }).propertyName !== undefined) {
    // A propertyNames failure: the bad thing is the key itself, so name it.
    what = `has key ${JSON.stringify((error as { propertyName?: string }).propertyName)}, which ${what.replace(/^must/, 'does not')}`;
  } else if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    what = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${where || root || 'value'} ${what}`;
}
