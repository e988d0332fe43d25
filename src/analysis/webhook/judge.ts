// Pure judgement of a webhook call: 2xx passes, any other status fails, no answer is an Error.
import type { Measurement } from '../../api/types.js';
import type { Observation, ResolvedWebhookCheck } from '../provider.js';
import { excerpt } from '../text.js';

/** Most characters of a response body kept in a measurement. */
export const MAX_BODY_EXCERPT = 200;

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

export function judgeWebhook(check: ResolvedWebhookCheck, obs: Observation): Measurement {
  const time = isoTime(obs.takenAt);
  if (obs.kind === 'error') return { verdict: 'Error', time, message: obs.message, ...(obs.url ? { url: obs.url } : {}) };
  if (obs.kind !== 'http') return { verdict: 'Error', time, message: `expected an HTTP answer for check "${check.name}", got ${obs.kind}` };
  const pass = obs.status >= 200 && obs.status <= 299;
  const body = excerpt(obs.body, MAX_BODY_EXCERPT);
  return {
    verdict: pass ? 'Pass' : 'Fail',
    value: String(obs.status),
    threshold: '2xx',
    time,
    url: obs.url,
    message: `${check.method} answered ${obs.status} in ${Math.round(obs.durationMs)} ms${body ? `: ${body}` : ' (empty body)'}`,
  };
}
