// The floor: the least any Fastify TLS JSON endpoint costs on this machine. It parses the review
// body as tollgate does and answers a fixed allow with the uid echoed; tollgate is measured against it.
import fastify from 'fastify';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { cert: { type: 'string' }, key: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!values.cert || !values.key) throw new Error('usage: floor.js --cert FILE --key FILE [--port N]');

const app = fastify({
  https: { cert: readFileSync(values.cert), key: readFileSync(values.key), minVersion: 'TLSv1.2' },
  // The same limits as tollgate's server, so that neither side is measured with a cheaper setting.
  bodyLimit: 16 * 1024 * 1024,
  keepAliveTimeout: 120_000,
});

interface Review {
  apiVersion?: string;
  request?: { uid?: string };
}

const allow = async (request: { body: unknown }) => {
  const review = request.body as Review;
  return JSON.stringify({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: review.request?.uid, allowed: true } });
};
app.post('/validate', async (request, reply) => reply.type('application/json').send(await allow(request)));
app.post('/mutate', async (request, reply) => reply.type('application/json').send(await allow(request)));

const url = await app.listen({ port: Number(values.port), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ msg: 'floor is serving', url })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
