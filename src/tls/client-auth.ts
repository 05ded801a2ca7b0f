// Client-certificate checks for clusters whose apiserver presents one to its webhooks
// (`--client-ca`): the review endpoints answer only a client whose certificate the CA signed and,
// when names are pinned, whose common name or DNS SAN is one of them. The TLS layer asks for a
// certificate but does not insist, because the kubelet's HTTPS probes of /healthz and /readyz present none.
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { ErrorCodes, TollgateError } from '../errors.js';
import { inspectCertificate } from './certificates.js';

/** The routes that need a client certificate when a client CA is configured. */
export const CLIENT_AUTHENTICATED_ROUTES: readonly string[] = ['/mutate', '/validate'];

function commonNameOf(subject: string): string | undefined {
  return /^CN=(.*)$/m.exec(subject)?.[1];
}

/** The name a client certificate is known by: its common name and DNS SANs. */
export function clientNamesOf(socket: TLSSocket): string[] {
  const peer = socket.getPeerX509Certificate();
  if (!peer) return [];
  const info = inspectCertificate(peer);
  const commonName = commonNameOf(info.subject);
  return [...(commonName ? [commonName] : []), ...info.dnsNames];
}

/** An onRequest hook refusing review requests without a verified (and, if pinned, named) client certificate. */
export function requireClientCertificate(allowedNames: readonly string[], routes: readonly string[] = CLIENT_AUTHENTICATED_ROUTES) {
  const allowed = new Set(allowedNames);
  const guarded = new Set(routes);
  return async (request: FastifyRequest): Promise<void> => {
    if (!guarded.has(request.routeOptions.url ?? '')) return;
    const socket = request.raw.socket as Partial<TLSSocket>;
    if (socket.authorized !== true || typeof socket.getPeerX509Certificate !== 'function') {
      const reason = typeof socket.authorizationError === 'string' || socket.authorizationError ? ` (${String(socket.authorizationError)})` : '';
      throw new TollgateError(ErrorCodes.TG_ERR_CLIENT_CERTIFICATE, `a client certificate signed by the configured client CA is required${reason}`);
    }
    if (allowed.size === 0) return;
    const names = clientNamesOf(socket as TLSSocket);
    if (!names.some((name) => allowed.has(name))) {
      throw new TollgateError(ErrorCodes.TG_ERR_CLIENT_CERTIFICATE, `client certificate for ${names.join(', ') || 'no name'} is not one of the allowed clients`);
    }
  };
}
