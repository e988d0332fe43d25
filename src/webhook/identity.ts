// Who the operator is to the apiserver, so its own writes can be told apart from everyone else's.
// In the cluster (or with any ServiceAccount token) it is read from the token itself:
// system:serviceaccount:<namespace>:<name>, no API call. Otherwise a SelfSubjectReview asks the
// apiserver, retried in the background until it answers.
import type { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import type { RawClient } from '../kube/raw-client.js';
import type { Logger } from '../runtime/logger.js';
import { errorMessage } from '../kube/errors.js';

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** The ServiceAccount user name a token was issued for, or undefined when it is not a ServiceAccount token. */
export function serviceAccountUserFromToken(token: string | undefined): string | undefined {
  const payload = token?.trim().split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub.startsWith(SERVICE_ACCOUNT_PREFIX) && claims.sub.split(':').length === 4 ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

/** The ServiceAccount the kubeconfig's current user authenticates as (token or in-cluster token file), if any. */
export function serviceAccountUser(kc: KubeConfig, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): string | undefined {
  const user = kc.getCurrentUser();
  if (!user) return undefined;
  if (user.token) return serviceAccountUserFromToken(user.token);
  const tokenFile = (user.authProvider as { config?: { tokenFile?: string } } | undefined)?.config?.tokenFile;
  if (!tokenFile) return undefined;
  try {
    return serviceAccountUserFromToken(readFile(tokenFile));
  } catch {
    return undefined;
  }
}

export async function selfSubjectReview(client: RawClient): Promise<string | undefined> {
  const review = await client.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  return review.status?.userInfo?.username;
}

/** The operator's user name: from its token at once, else from SelfSubjectReview with retries. */
export class OperatorIdentity {
  private username: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempts = 0;
  private lastError: string | undefined;

  constructor(
    private readonly o: { kc: KubeConfig; client: RawClient; logger: Logger; onKnown?: (username: string) => void; retryMs?: { min: number; max: number } },
  ) {}

  get current(): string | undefined {
    return this.username;
  }

  /** Why the name is not known yet (for /readyz); undefined once it is. */
  get unknownBecause(): string | undefined {
    if (this.username) return undefined;
    return `the operator's user name is not known yet (SelfSubjectReview${this.lastError ? ` failed: ${this.lastError}` : ' pending'}); its own writes cannot be told apart from others'`;
  }

  /** Resolves once the first attempt is over (known or not); later attempts run in the background. */
  async start(): Promise<void> {
    const fromToken = serviceAccountUser(this.o.kc);
    if (fromToken) {
      this.known(fromToken);
      return;
    }
    await this.attempt();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      const name = await selfSubjectReview(this.o.client);
      if (name) {
        this.known(name);
        return;
      }
      throw new Error('SelfSubjectReview returned no user name');
    } catch (err) {
      this.attempts++;
      this.lastError = errorMessage(err);
      const { min, max } = this.o.retryMs ?? { min: 1_000, max: 30_000 };
      const delay = Math.min(max, min * 2 ** Math.min(this.attempts - 1, 10));
      this.o.logger.warn('Could not learn the operator user name yet (SelfSubjectReview); not ready until it is known', { error: errorMessage(err), retryInMs: delay });
      this.timer = setTimeout(() => void this.attempt(), delay);
      this.timer.unref();
    }
  }

  private known(username: string): void {
    this.username = username;
    this.o.logger.info('Learned the operator user name', { user: username });
    this.o.onKnown?.(username);
  }
}
