// The demo's notification receiver: a local webhook (what a team's own endpoint would be) that
// checks each notification's HMAC-SHA256 signature and prints it as one line:
//   time  transition  object  version  (reason)  [failed target]  signature ok
// Usage: DEMO_HOOK_SECRET=<signing key> node --import tsx examples/demo/receiver.ts --port 18127
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

interface Payload {
  eventId: string;
  object: { kind: string; namespace: string; name: string };
  transition: { name: string; reason: string; message: string };
  version?: string;
  previousVersion?: string;
  release?: { generation: number; source?: { revision?: string }; failedTarget?: string };
}

const portArg = process.argv.indexOf('--port');
const port = Number(portArg >= 0 ? process.argv[portArg + 1] : 18127);
const key = process.env.DEMO_HOOK_SECRET ?? '';
const seen = new Set<string>();

function verified(body: Buffer, header: string | undefined): boolean {
  if (!key || !header) return false;
  const want = Buffer.from(`sha256=${createHmac('sha256', key).update(body).digest('hex')}`);
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

function line(p: Payload, signature: string): string {
  const time = new Date().toISOString().slice(11, 19);
  const what = `${p.object.kind} ${p.object.namespace}/${p.object.name}`;
  const version = p.version ? `version ${p.version}${p.previousVersion && p.transition.name !== 'RolledBack' ? ` (was ${p.previousVersion})` : ''}` : '';
  const failed = p.release?.failedTarget ? `  failed target: ${p.release.failedTarget}` : '';
  const commit = p.release?.source?.revision ? `  commit ${p.release.source.revision}` : '';
  return `${time}  ${p.transition.name.padEnd(10)}  ${what.padEnd(22)}  ${version.padEnd(26)}  reason ${p.transition.reason}${failed}${commit}  ${signature}`;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const sig = req.headers['x-deployer-signature'];
    if (!verified(body, typeof sig === 'string' ? sig : undefined)) {
      console.log(`${new Date().toISOString().slice(11, 19)}  refused a request to ${req.url ?? '/'}: signature missing or wrong`);
      res.writeHead(401).end();
      return;
    }
    let p: Payload;
    try {
      p = JSON.parse(body.toString('utf8')) as Payload;
    } catch {
      res.writeHead(400).end();
      return;
    }
    // The event id is stable: a rare second delivery of one notification is acknowledged, not printed again.
    if (!seen.has(p.eventId)) console.log(line(p, 'signature ok'));
    seen.add(p.eventId);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
  });
});
server.listen(port, '127.0.0.1', () => console.error(`notification receiver listening on http://127.0.0.1:${port}`));
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => server.close(() => process.exit(0)));
