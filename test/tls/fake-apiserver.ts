// Just enough of kube-apiserver for `tollgate certs` against a cluster: Secrets and the two webhook
// configuration kinds, kept in memory, with resourceVersion conflicts as the real one answers them.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { writeFile } from 'node:fs/promises';

type KubeObject = { metadata: { name: string; namespace?: string; resourceVersion?: string }; [key: string]: unknown };

export interface FakeApiserver {
  url: string;
  objects: Map<string, KubeObject>;
  /** Every request as `METHOD path`. */
  requests: string[];
  put(path: string, object: KubeObject): void;
  /** A kubeconfig for this server (plain HTTP, which client-node allows only with insecure-skip-tls-verify). */
  writeKubeconfig(file: string, token?: string): Promise<void>;
  close(): Promise<void>;
}

const COLLECTIONS = [/^\/api\/v1\/namespaces\/[^/]+\/secrets$/, /^\/apis\/admissionregistration\.k8s\.io\/v1\/(mutating|validating)webhookconfigurations$/];

function status(response: ServerResponse, code: number, reason: string, message: string): void {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
}

export async function startFakeApiserver(token = 'fake-token'): Promise<FakeApiserver> {
  const objects = new Map<string, KubeObject>();
  const requests: string[] = [];
  let version = 1;
  const store = (path: string, object: KubeObject) => {
    object.metadata.resourceVersion = String(++version);
    objects.set(path, structuredClone(object));
  };
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    requests.push(`${request.method} ${path}`);
    if (request.headers.authorization !== `Bearer ${token}`) return status(response, 401, 'Unauthorized', 'Unauthorized');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as KubeObject) : undefined;
    const reply = (code: number, object: KubeObject) => {
      response.writeHead(code, { 'content-type': 'application/json' });
      response.end(JSON.stringify(object));
    };
    if (request.method === 'POST' && COLLECTIONS.some((pattern) => pattern.test(path)) && body) {
      const itemPath = `${path}/${body.metadata.name}`;
      if (objects.has(itemPath)) return status(response, 409, 'AlreadyExists', `${body.metadata.name} already exists`);
      store(itemPath, body);
      return reply(201, objects.get(itemPath)!);
    }
    const existing = objects.get(path);
    if (!existing) return status(response, 404, 'NotFound', `${path} not found`);
    if (request.method === 'GET') return reply(200, existing);
    if (request.method === 'PUT' && body) {
      if (body.metadata.resourceVersion !== existing.metadata.resourceVersion) {
        return status(response, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
      }
      store(path, body);
      return reply(200, objects.get(path)!);
    }
    return status(response, 405, 'MethodNotAllowed', `${request.method} not supported here`);
  };
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((err: unknown) => status(response, 500, 'InternalError', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    objects,
    requests,
    put: store,
    writeKubeconfig: (file, asToken = token) =>
      writeFile(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'fake', user: { token: asToken } }],
          contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
          'current-context': 'fake',
        }),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
