// Runs work that must fail with a TollgateError and returns that error, for assertions on its code.
import { TollgateError } from '../../src/errors.js';

export async function tollgateErrorOf(work: () => unknown): Promise<TollgateError> {
  try {
    await work();
  } catch (err) {
    if (err instanceof TollgateError) return err;
    throw err;
  }
  throw new Error('expected a TollgateError');
}
