import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KubernetesTarget } from '../../src/config/schema.js';
import { resolveSecret } from '../../src/config/secrets.js';
import { handleKubernetes } from '../../src/gateway/kubernetes/handler.js';
import type { GatewayAuditEvent, GatewayContext } from '../../src/gateway/types.js';
import { createTestPki, type TestPki } from './certs.js';

/**
 * A small HTTPS server that speaks enough of the Kubernetes API wire format
 * for kubectl (discovery, pods as Table or PodList, get/delete, namespaces, a
 * watch, an echoing upgrade endpoint) and accepts only the configured bearer
 * token or a client certificate signed by its CA.
 */

/** What the fake saw for one request, so tests can assert on the injected credential. */
export interface SeenRequest {
  method: string;
  /** Path with query string. */
  url: string;
  path: string;
  auth: 'bearer' | 'cert' | 'none' | 'rejected';
  /** The raw Authorization header value, if any (tests assert it is the injected one). */
  authorization?: string;
  /** Names of any Impersonate-* / X-Remote-* headers that arrived. */
  impersonation: string[];
  accept?: string;
  upgrade?: string;
}

export interface FakePod {
  name: string;
  namespace: string;
  phase?: string;
}

export interface FakeKube {
  /** `https://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** PEM of the CA that signed the server (and accepted client) certificates. */
  caPem: string;
  pki: TestPki;
  seen: SeenRequest[];
  pods: FakePod[];
  namespaces: string[];
  /** Sends a watch event to every open pod watch. */
  emitPodEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: FakePod): void;
  /** Number of watch streams currently open. */
  openWatches(): number;
  /** Number of requests to the `hang` namespace's pods still waiting: the fake never answers them. */
  openHangs(): number;
  close(): Promise<void>;
}

export interface FakeKubeOptions {
  /** Accepted bearer token. */
  token?: string;
  /** Reuse an existing PKI (otherwise a new one is made and cleaned up on close). */
  pki?: TestPki;
  pods?: FakePod[];
  namespaces?: string[];
}

const CREATED = '2026-11-01T10:00:00Z';

function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function podObject(p: FakePod, rv: number) {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: `uid-${p.namespace}-${p.name}`,
      resourceVersion: String(rv),
      creationTimestamp: CREATED,
      labels: { app: p.name.replace(/-\d+$/, '') },
    },
    spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] },
    status: {
      phase: p.phase ?? 'Running',
      containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'nginx:1.27', imageID: '', started: true, state: { running: { startedAt: CREATED } } }],
    },
  };
}

function namespaceObject(name: string, rv: number) {
  return {
    kind: 'Namespace',
    apiVersion: 'v1',
    metadata: { name, uid: `uid-ns-${name}`, resourceVersion: String(rv), creationTimestamp: CREATED },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

const podColumns = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Ready', type: 'string', format: '', description: 'The aggregate readiness state of this pod for accepting traffic.', priority: 0 },
  { name: 'Status', type: 'string', format: '', description: 'The aggregate status of the containers in this pod.', priority: 0 },
  { name: 'Restarts', type: 'string', format: '', description: 'The number of times the containers in this pod have been restarted.', priority: 0 },
  { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp.', priority: 0 },
];
const nsColumns = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Status', type: 'string', format: '', description: 'The status of the namespace', priority: 0 },
  { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp.', priority: 0 },
];

function partialMeta(obj: { metadata: Record<string, unknown> }) {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

function podRow(p: FakePod, rv: number) {
  return { cells: [p.name, '1/1', p.phase ?? 'Running', '0', '5m'], object: partialMeta(podObject(p, rv)) };
}

function table(columns: unknown[], rows: unknown[], rv: number) {
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: String(rv) }, columnDefinitions: columns, rows };
}

const wantsTable = (req: IncomingMessage) => /as=Table/.test(req.headers.accept ?? '');

const resourceList = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'] },
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['po'], categories: ['all'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  ],
};

/** Starts the fake API server on 127.0.0.1:0 with a fresh (or given) PKI. */
export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const ownPki = !options.pki;
  const pki = options.pki ?? (await createTestPki());
  const seen: SeenRequest[] = [];
  const pods: FakePod[] = options.pods ?? [
    { name: 'web-1', namespace: 'default' },
    { name: 'web-2', namespace: 'default' },
    { name: 'db-0', namespace: 'prod' },
  ];
  const namespaces = options.namespaces ?? ['default', 'kube-system', 'prod'];
  let rv = 100;
  const watches = new Set<{ ns: string; table: boolean; res: ServerResponse }>();
  const hangs = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const send = (res: ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const authenticate = (req: IncomingMessage): SeenRequest['auth'] => {
    const socket = req.socket as TLSSocket;
    const header = req.headers.authorization;
    if (header !== undefined) {
      return options.token !== undefined && header === `Bearer ${options.token}` ? 'bearer' : 'rejected';
    }
    if (socket.authorized && socket.getPeerCertificate()?.subject) return 'cert';
    return 'none';
  };

  const record = (req: IncomingMessage): SeenRequest => {
    const url = new URL(req.url ?? '/', 'https://fake');
    const entry: SeenRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      path: url.pathname,
      auth: authenticate(req),
      authorization: req.headers.authorization,
      impersonation: Object.keys(req.headers).filter((h) => /^(impersonate-|x-remote-)/i.test(h)),
      accept: req.headers.accept,
      upgrade: req.headers.upgrade,
    };
    seen.push(entry);
    return entry;
  };

  const route = (req: IncomingMessage, res: ServerResponse, entry: SeenRequest) => {
    if (entry.auth === 'none' || entry.auth === 'rejected') {
      return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const url = new URL(req.url ?? '/', 'https://fake');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (p === '/version') {
      return send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.4', gitCommit: 'fake', gitTreeState: 'clean', buildDate: CREATED, goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64' });
    }
    if (p === '/api') {
      return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] });
    }
    if (p === '/apis') return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (p === '/api/v1') return send(res, 200, resourceList);
    if (p === '/healthz' || p === '/readyz' || p === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('ok');
    }

    if (p === '/api/v1/namespaces' && method === 'GET') {
      if (wantsTable(req)) {
        return send(res, 200, table(nsColumns, namespaces.map((n) => ({ cells: [n, 'Active', '5m'], object: partialMeta(namespaceObject(n, rv)) })), rv));
      }
      return send(res, 200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: namespaces.map((n) => namespaceObject(n, rv)) });
    }
    let m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const i = namespaces.indexOf(name);
      if (i < 0) return send(res, 404, status(404, 'NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' }));
      if (method === 'DELETE') {
        namespaces.splice(i, 1);
        const obj = namespaceObject(name, ++rv);
        obj.status.phase = 'Terminating';
        return send(res, 200, obj);
      }
      return send(res, 200, namespaceObject(name, rv));
    }

    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p);
    if (m && method === 'GET') {
      const ns = decodeURIComponent(m[1]!);
      if (ns === 'hang') {
        // A request that is still running upstream when the client's side goes away.
        hangs.add(res);
        res.on('close', () => hangs.delete(res));
        return;
      }
      const watch = url.searchParams.get('watch');
      if (watch !== null && watch !== '0' && watch !== 'false') {
        const w = { ns, table: wantsTable(req), res };
        watches.add(w);
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        // An initial ADDED event for each pod when the client asks from scratch (no resourceVersion).
        if (!url.searchParams.get('resourceVersion')) {
          for (const pod of pods.filter((x) => x.namespace === ns)) writeEvent(w, 'ADDED', pod);
        }
        res.on('close', () => watches.delete(w));
        return;
      }
      const list = pods.filter((x) => x.namespace === ns);
      if (wantsTable(req)) return send(res, 200, table(podColumns, list.map((x) => podRow(x, rv)), rv));
      return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: list.map((x) => podObject(x, rv)) });
    }

    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(?:\/([^/]+))?$/.exec(p);
    if (m) {
      const ns = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const sub = m[3];
      const i = pods.findIndex((x) => x.namespace === ns && x.name === name);
      if (i < 0) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
      const pod = pods[i]!;
      if (sub === 'exec' || sub === 'attach' || sub === 'portforward') {
        // No streaming runtime here: a non-upgrade request to a connect subresource gets a 400, as the real one does.
        return send(res, 400, status(400, 'BadRequest', 'Upgrade request required'));
      }
      if (sub === 'log') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(`hello from ${name}\n`);
      }
      if (sub) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      if (method === 'DELETE') {
        pods.splice(i, 1);
        return send(res, 200, podObject(pod, ++rv));
      }
      if (wantsTable(req)) return send(res, 200, table(podColumns, [podRow(pod, rv)], rv));
      return send(res, 200, podObject(pod, rv));
    }
    return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  };

  function writeEvent(w: { table: boolean; res: ServerResponse }, type: string, pod: FakePod) {
    const object = w.table ? table(podColumns, [podRow(pod, rv)], rv) : podObject(pod, rv);
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  const server: Server = createServer({
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca.cert,
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: TLSSocket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('request', (req, res) => route(req, res, record(req)));
  // Upgrade endpoint for pass-through tests: POST/GET .../pods/NAME/exec with
  // `Upgrade: echo` answers 101 and echoes every byte back; other protocols get a 400 Status.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const entry = record(req);
    if (entry.auth !== 'bearer' && entry.auth !== 'cert') {
      const body = JSON.stringify(status(401, 'Unauthorized', 'Unauthorized'));
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    if (!/\/pods\/[^/]+\/(exec|attach|portforward)$/.test(entry.path)) {
      const body = JSON.stringify(status(404, 'NotFound', 'the server could not find the requested resource'));
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    if (String(req.headers.upgrade).toLowerCase() !== 'echo') {
      // No container runtime here: kubectl's SPDY/WebSocket exec gets a readable refusal.
      const body = JSON.stringify(status(400, 'BadRequest', 'fake API server: exec streams are not supported here'));
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: pki.ca.cert,
    pki,
    seen,
    pods,
    namespaces,
    emitPodEvent(type, pod) {
      rv++;
      for (const w of watches) if (w.ns === pod.namespace) writeEvent(w, type, pod);
    },
    openWatches: () => watches.size,
    openHangs: () => hangs.size,
    async close() {
      for (const w of watches) w.res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownPki) await pki.cleanup();
    },
  };
}

/** What a test's fake server context recorded and lets the test steer. */
export interface KubeGateway {
  /** `http://127.0.0.1:PORT`: the local listener kubectl talks to. */
  url: string;
  audits: GatewayAuditEvent[];
  approvalRequests: { text: string; rule: string; message?: string | undefined }[];
  /** Decide approval requests by text; unknown texts stay pending. */
  approvals: Map<string, 'approved' | 'denied'>;
  /** Aborting it ends the grant for every tunnel (as a revocation would). */
  controller: AbortController;
  ctx: GatewayContext<KubernetesTarget>;
  /** Handler promises, one per accepted connection (resolve when the tunnel closes). */
  tunnels: Promise<void>[];
  close(): Promise<void>;
}

/**
 * A stand-in for the gate server's tunnel endpoint: listens on 127.0.0.1:0
 * and hands each accepted socket straight to `handleKubernetes`, with a
 * context whose secrets come from `env` and whose audit and approvals are recorded.
 */
export async function startKubeGateway(options: {
  target: KubernetesTarget;
  targetName?: string;
  role?: string;
  env: Record<string, string>;
  /** The tunnel's one-time local password (`gate connect --local-password`, `gate kubectl`). */
  localPassword?: string;
}): Promise<KubeGateway> {
  const audits: GatewayAuditEvent[] = [];
  const approvalRequests: KubeGateway['approvalRequests'] = [];
  const approvals = new Map<string, 'approved' | 'denied'>();
  const controller = new AbortController();
  const targetName = options.targetName ?? 'prod-k8s';
  const ctx: GatewayContext<KubernetesTarget> = {
    targetName,
    target: options.target,
    grant: {
      id: 'grant-1',
      target: targetName,
      role: options.role ?? Object.keys(options.target.roles)[0]!,
      user: 'alice',
      email: 'alice@example.com',
      expiresAt: new Date(Date.now() + 3_600_000),
    },
    ...(options.localPassword !== undefined ? { localPassword: options.localPassword } : {}),
    secret: (ref) => resolveSecret(ref, options.env),
    audit: (event) => audits.push(event),
    async requestApproval(input) {
      approvalRequests.push(input);
      const id = `apr-${approvalRequests.findIndex((r) => r.text === input.text) + 1}`;
      const decided = approvals.get(input.text);
      return { status: decided ?? 'pending', id };
    },
    signal: controller.signal,
  };
  const tunnels: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const listener = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    tunnels.push(handleKubernetes(socket, ctx));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    audits,
    approvalRequests,
    approvals,
    controller,
    ctx,
    tunnels,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await Promise.all(tunnels);
    },
  };
}
