// The catalogue of invalid input, shared by bad-input.test.ts (what a user sees from kubectl, the
// controller and depctl) and cel-parity.test.ts (the apiserver and depctl validate give the same
// verdicts and messages on every row).
import { stringify } from 'yaml';
import type { CheckSpec } from '../../src/api/types.js';

export const monitorCheck: CheckSpec = { name: 'errors', datadogMonitor: { id: 101 } };
export const analysis = (checks: CheckSpec[]): Record<string, unknown> => ({ interval: '1s', checks });
export const withChecks = (checks: CheckSpec[] = [monitorCheck]): Record<string, unknown> => ({ analysis: analysis(checks), datadog: { secretRef: { name: 'datadog' } } });

/** A Canary manifest as YAML; `edit` may rewrite the text (for numbers JavaScript cannot hold). */
export function manifest(name: string, spec: Record<string, unknown>, edit: (yaml: string) => string = (y) => y): string {
  return edit(stringify({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }], ...spec } }, { version: '1.1' }));
}

export interface ApplyCase {
  name: string;
  /** The Canary's name; default "bad". */
  canary?: string;
  spec: Record<string, unknown>;
  edit?: (yaml: string) => string;
  /** The apiserver's message; undefined: the apiserver accepts it (a boundary). */
  message?: RegExp;
  /** The path depctl validate reports. */
  path?: string;
}

export const long = (n: number, c = 'a'): string => c.repeat(n);
export const check = (over: Record<string, unknown>): Record<string, unknown> => withChecks([{ name: 'errors', ...over } as CheckSpec]);

export const APPLY_CASES: ApplyCase[] = [
  { name: 'a name of 64 characters', canary: long(64, 'n'), spec: {}, message: /metadata.name must be at most 63 characters: the Canary's name becomes a label value/, path: '' },
  { name: 'a name of exactly 63 characters (accepted)', canary: long(63, 'n'), spec: {} },
  { name: 'a target name with capitals and _', spec: { targetRef: { name: 'Web_App' } }, message: /targetRef.name must be a Deployment name/, path: 'spec.targetRef.name' },
  { name: 'a unicode target name', spec: { targetRef: { name: 'kasse-ü' } }, message: /targetRef.name must be a Deployment name/, path: 'spec.targetRef.name' },
  { name: 'a target name of 254 characters', spec: { targetRef: { name: long(254) } }, message: /spec.targetRef.name: Too long: may not be (longer|more) than 253/, path: 'spec.targetRef.name' },
  { name: 'an empty target name', spec: { targetRef: { name: '' } }, message: /spec.targetRef.name: Invalid value: "": spec.targetRef.name in body should be at least 1 chars long/, path: 'spec.targetRef.name' },
  { name: 'a Secret name with a slash', spec: { ...withChecks(), datadog: { secretRef: { name: 'shop/datadog' } } }, message: /datadog.secretRef.name must be a Secret name/, path: 'spec.datadog.secretRef.name' },
  { name: 'a pause over 168h', spec: { steps: [{ setWeight: 10 }, { pause: { duration: '169h' } }] }, message: /pause.duration must be at most 168h \(7 days\)/, path: 'spec.steps[1].pause' },
  { name: 'a pause of exactly 168h (accepted)', spec: { steps: [{ setWeight: 10 }, { pause: { duration: '168h' } }] } },
  { name: 'a pause of exactly 1s (accepted)', spec: { steps: [{ setWeight: 10 }, { pause: { duration: '1s' } }] } },
  { name: 'a pause of 999ms', spec: { steps: [{ pause: { duration: '999ms' } }] }, message: /pause.duration must be at least 1s/, path: 'spec.steps[0].pause' },
  { name: 'a duration with a day unit', spec: { progressDeadline: '1d' }, message: /spec.progressDeadline in body should match/, path: 'spec.progressDeadline' },
  { name: 'a duration too long to be a number', spec: { progressDeadline: '99999999999999999999h' }, message: /spec.progressDeadline: Too long: may not be (longer|more) than 16/, path: 'spec.progressDeadline' },
  { name: 'a progressDeadline over 24h', spec: { progressDeadline: '24h1s' }, message: /progressDeadline must be at most 24h/, path: 'spec.progressDeadline' },
  { name: 'a progressDeadline of 0s', spec: { progressDeadline: '0s' }, message: /progressDeadline must be at least 1s/, path: 'spec.progressDeadline' },
  { name: 'an interval of 500ms', spec: { ...withChecks(), analysis: { interval: '500ms', checks: [monitorCheck] } }, message: /analysis.interval must be at least 1s/, path: 'spec.analysis.interval' },
  { name: 'an interval over 1h', spec: { ...withChecks(), analysis: { interval: '61m', checks: [monitorCheck] } }, message: /analysis.interval must be at most 1h/, path: 'spec.analysis.interval' },
  { name: 'a query window over 24h', spec: check({ datadogQuery: { query: 'avg:x{*}', max: 1, window: '1441m' } }), message: /datadogQuery.window must be at most 24h/, path: 'spec.analysis.checks[0].datadogQuery.window' },
  { name: 'a monitor id of 2^53', spec: check({ datadogMonitor: { id: 1111 } }), edit: (y) => y.replace('id: 1111', 'id: 9007199254740992'), message: /should be less than or equal to 9007199254740991/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id of 2^53-1 (accepted)', spec: check({ datadogMonitor: { id: 1111 } }), edit: (y) => y.replace('id: 1111', 'id: 9007199254740991') },
  { name: 'a monitor id beyond int64', spec: check({ datadogMonitor: { id: 1111 } }), edit: (y) => y.replace('id: 1111', 'id: 99999999999999999999999'), message: /datadogMonitor.id in body must be of type int64/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id of 0', spec: check({ datadogMonitor: { id: 0 } }), message: /datadogMonitor.id in body should be greater than or equal to 1/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id as a string', spec: check({ datadogMonitor: { id: '101' } }), message: /datadogMonitor.id: Invalid value: "string": spec.analysis.checks\[0\].datadogMonitor.id in body must be of type integer/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id with a fraction', spec: check({ datadogMonitor: { id: 101.5 } }), message: /datadogMonitor.id in body must be of type int64: "float64"/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor with id and tags', spec: check({ datadogMonitor: { id: 1, tags: ['service:web'] } }), message: /datadogMonitor needs exactly one of id, tags or query/, path: 'spec.analysis.checks[0].datadogMonitor' },
  { name: 'a monitor with no selector', spec: check({ datadogMonitor: { group: 'version:1' } }), message: /datadogMonitor needs exactly one of id, tags or query/, path: 'spec.analysis.checks[0].datadogMonitor' },
  { name: 'an empty tag list', spec: check({ datadogMonitor: { tags: [] } }), message: /datadogMonitor.tags in body should have at least 1 items/, path: 'spec.analysis.checks[0].datadogMonitor.tags' },
  { name: 'a tag of 201 characters', spec: check({ datadogMonitor: { tags: [long(201, 't')] } }), message: /datadogMonitor.tags\[0\]: Too long: may not be (longer|more) than 200/, path: 'spec.analysis.checks[0].datadogMonitor.tags[0]' },
  { name: 'a query of 2001 characters', spec: check({ datadogQuery: { query: long(2001, 'q'), max: 1 } }), message: /datadogQuery.query: Too long: may not be (longer|more) than 2000/, path: 'spec.analysis.checks[0].datadogQuery.query' },
  { name: 'a query check without min or max', spec: check({ datadogQuery: { query: 'avg:x{*}' } }), message: /datadogQuery needs min, max or both/, path: 'spec.analysis.checks[0].datadogQuery' },
  { name: 'a query check with min above max', spec: check({ datadogQuery: { query: 'avg:x{*}', min: 5, max: 1 } }), message: /datadogQuery.min must not exceed max/, path: 'spec.analysis.checks[0].datadogQuery' },
  { name: 'a check with a monitor and a query', spec: check({ datadogMonitor: { id: 1 }, datadogQuery: { query: 'avg:x{*}', max: 1 } }), message: /a check must have exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook/, path: 'spec.analysis.checks[0]' },
  { name: 'a check with neither a monitor nor a query', spec: check({}), message: /a check must have exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook/, path: 'spec.analysis.checks[0]' },
  { name: 'a compare check without baseline pods', spec: check({ compare: { query: 'avg:x{role:{{ role }}}' } }), message: /compare checks need analysis.baseline set to true/, path: 'spec' },
  { name: 'a compare query without {{ role }}', spec: { ...withChecks(), analysis: { interval: '1s', baseline: true, checks: [{ name: 'errors', compare: { query: 'avg:x{*}' } }] } }, message: /compare.query needs \{\{ role \}\} in its scope/, path: 'spec.analysis.checks[0].compare' },
  { name: 'a compare window over 24h', spec: { ...withChecks(), analysis: { interval: '1s', baseline: true, checks: [{ name: 'errors', compare: { query: 'avg:x{role:{{role}}}', window: '25h' } }] } }, message: /compare.window must be at most 24h/, path: 'spec.analysis.checks[0].compare.window' },
  { name: 'a compare check with baseline pods (accepted)', spec: { ...withChecks(), analysis: { interval: '1s', baseline: true, checks: [{ name: 'errors', compare: { query: 'avg:x{role:{{ role }}}', higherIsWorse: false, minPoints: 3, significance: 0.5, tolerance: 0 } }] } } },
  { name: 'a unicode check name', spec: withChecks([{ name: 'fehlerrate-ä', datadogMonitor: { id: 1 } }]), message: /checks\[0\].name in body should match/, path: 'spec.analysis.checks[0].name' },
  { name: 'a check name of 64 characters', spec: withChecks([{ name: long(64, 'e'), datadogMonitor: { id: 1 } }]), message: /checks\[0\].name: Too long: may not be (longer|more) than 63/, path: 'spec.analysis.checks[0].name' },
  { name: 'two checks with the same name', spec: withChecks([{ name: 'errors', datadogMonitor: { id: 1 } }, { name: 'errors', datadogMonitor: { id: 2 } }]), message: /spec.analysis.checks\[1\]: Duplicate value: \{"name":"errors"\}/, path: 'spec.analysis.checks[1]' },
  { name: '21 checks', spec: withChecks(Array.from({ length: 21 }, (_, i) => ({ name: `c${i}`, datadogMonitor: { id: i + 1 } }))), message: /spec.analysis.checks: Too many: 21: must have at most 20 items/, path: 'spec.analysis.checks' },
  { name: 'checks without a Datadog Secret', spec: { analysis: analysis([monitorCheck]) }, message: /datadog.secretRef is required when a check uses Datadog \(datadogMonitor, datadogQuery or compare without compare.prometheus\)/, path: 'spec' },
  { name: 'a verdict in lower case', spec: check({ datadogMonitor: { id: 1, verdicts: { warn: 'fail' } } }), message: /verdicts.warn: Unsupported value: "fail": supported values: "Pass", "Fail", "Inconclusive"/, path: 'spec.analysis.checks[0].datadogMonitor.verdicts.warn' },
  { name: 'a failureLimit of 1001', spec: { analysis: { failureLimit: 1001 } }, message: /failureLimit in body should be less than or equal to 1000/, path: 'spec.analysis.failureLimit' },
  { name: 'a consecutiveErrorLimit of 0', spec: { analysis: { consecutiveErrorLimit: 0 } }, message: /consecutiveErrorLimit in body should be greater than or equal to 1/, path: 'spec.analysis.consecutiveErrorLimit' },
  { name: 'a weight of 0', spec: { steps: [{ setWeight: 0 }] }, message: /setWeight in body should be greater than or equal to 1/, path: 'spec.steps[0].setWeight' },
  { name: 'a step with setWeight and pause', spec: { steps: [{ setWeight: 10, pause: {} }] }, message: /spec.steps\[0\]: Invalid value: a step must have exactly one of setWeight or pause/, path: 'spec.steps[0]' },
  { name: 'an empty step', spec: { steps: [{ setWeight: 10 }, {}] }, message: /spec.steps\[1\]: Invalid value: a step must have exactly one of setWeight or pause/, path: 'spec.steps[1]' },
  { name: 'a weight of 99 (accepted)', spec: { steps: [{ setWeight: 99 }] } },
  { name: 'a weight as a string', spec: { steps: [{ setWeight: '20' }] }, message: /setWeight: Invalid value: "string": spec.steps\[0\].setWeight in body must be of type integer/, path: 'spec.steps[0].setWeight' },
  { name: '51 steps', spec: { steps: Array.from({ length: 51 }, () => ({ setWeight: 10 })) }, message: /spec.steps: Too many: 51: must have at most 50 items/, path: 'spec.steps' },
  { name: '50 steps (accepted)', spec: { steps: Array.from({ length: 50 }, (_, i) => (i % 2 ? { pause: { duration: '1s' } } : { setWeight: 10 })) } },
  { name: 'an unknown field', spec: { progresDeadline: '5m' }, message: /unknown field "spec.progresDeadline"/, path: 'spec.progresDeadline' },
  { name: 'steps as a string', spec: { steps: 'setWeight 10' }, message: /spec.steps: Invalid value: "string": spec.steps in body must be of type array/, path: 'spec.steps' },
  // Prometheus and webhook checks.
  { name: 'a Prometheus check without min or max', spec: check({ prometheusQuery: { address: 'http://prometheus:9090', query: 'up' } }), message: /prometheusQuery needs min, max or both/, path: 'spec.analysis.checks[0].prometheusQuery' },
  { name: 'a Prometheus check with min above max', spec: check({ prometheusQuery: { address: 'http://prometheus:9090', query: 'up', min: 2, max: 1 } }), message: /prometheusQuery.min must not exceed max/, path: 'spec.analysis.checks[0].prometheusQuery' },
  { name: 'a Prometheus address with a user name', spec: check({ prometheusQuery: { address: 'http://admin@prometheus:9090', query: 'up', max: 1 } }), message: /prometheusQuery.address must be an http:\/\/ or https:\/\/ URL/, path: 'spec.analysis.checks[0].prometheusQuery.address' },
  { name: 'a Prometheus auth Secret name with a slash', spec: check({ prometheusQuery: { address: 'http://p:9090', query: 'up', max: 1, auth: { secretRef: { name: 'a/b' } } } }), message: /prometheusQuery.auth.secretRef.name must be a Secret name/, path: 'spec.analysis.checks[0].prometheusQuery.auth.secretRef.name' },
  { name: 'a Prometheus CA Secret name in capitals', spec: check({ prometheusQuery: { address: 'https://p:9090', query: 'up', max: 1, tls: { caSecretRef: { name: 'CA' } } } }), message: /prometheusQuery.tls.caSecretRef.name must be a Secret name/, path: 'spec.analysis.checks[0].prometheusQuery.tls.caSecretRef.name' },
  { name: 'a webhook with a ftp url', spec: check({ webhook: { url: 'ftp://tests:21/run' } }), message: /webhook.url must be an http:\/\/ or https:\/\/ URL/, path: 'spec.analysis.checks[0].webhook.url' },
  { name: 'a webhook with a body and GET', spec: check({ webhook: { url: 'http://tests:8080/run', method: 'GET', body: '{}' } }), message: /webhook.body cannot be sent with GET or HEAD/, path: 'spec.analysis.checks[0].webhook' },
  { name: 'a webhook headers Secret name with a slash', spec: check({ webhook: { url: 'http://tests:8080/run', headersFrom: { secretRef: { name: 'a/b' } } } }), message: /webhook.headersFrom.secretRef.name must be a Secret name/, path: 'spec.analysis.checks[0].webhook.headersFrom.secretRef.name' },
  { name: 'a webhook timeout of 500ms', spec: check({ webhook: { url: 'http://tests:8080/run', timeout: '500ms' } }), message: /webhook.timeout must be at least 1s/, path: 'spec.analysis.checks[0].webhook.timeout' },
  { name: 'a webhook timeout over 5m', spec: check({ webhook: { url: 'http://tests:8080/run', timeout: '301s' } }), message: /webhook.timeout must be at most 5m/, path: 'spec.analysis.checks[0].webhook.timeout' },
  { name: 'a check with a Prometheus query and a webhook', spec: check({ prometheusQuery: { address: 'http://p:9090', query: 'up', max: 1 }, webhook: { url: 'http://tests:8080/run' } }), message: /a check must have exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook/, path: 'spec.analysis.checks[0]' },
  { name: 'Prometheus and webhook checks without a Datadog Secret (accepted)', spec: { analysis: analysis([{ name: 'p', prometheusQuery: { address: 'http://p:9090', query: 'up', max: 1 } }, { name: 'w', webhook: { url: 'http://tests:8080/run?v={{ version }}', body: '{"v":"{{ version }}"}', timeout: '5m' } }]) } },
  // compare checks on Prometheus
  {
    name: 'a Prometheus compare check without a Datadog Secret (accepted)',
    spec: { analysis: { interval: '1s', baseline: true, checks: [{ name: 'latency', compare: { query: 'avg(lat{role="{{ role }}"})', prometheus: { address: 'http://p:9090', auth: { secretRef: { name: 'prom' } }, tls: { caSecretRef: { name: 'ca' } } }, step: '1s', window: '1m' } }] } },
  },
  {
    name: 'a Prometheus compare check next to a Datadog one, without a Datadog Secret',
    spec: { analysis: { interval: '1s', baseline: true, checks: [{ name: 'p', compare: { query: 'avg(lat{role="{{ role }}"})', prometheus: { address: 'http://p:9090' } } }, { name: 'd', compare: { query: 'avg:lat{role:{{ role }}}' } }] } },
    message: /datadog.secretRef is required when a check uses Datadog \(datadogMonitor, datadogQuery or compare without compare.prometheus\)/,
    path: 'spec',
  },
  { name: 'a compare step without prometheus', spec: { ...withChecks(), analysis: { interval: '1s', baseline: true, checks: [{ name: 'l', compare: { query: 'avg:x{role:{{ role }}}', step: '30s' } }] } }, message: /compare.step applies to Prometheus only \(set compare.prometheus\)/, path: 'spec.analysis.checks[0].compare' },
  { name: 'a compare step of 999ms', spec: { analysis: { interval: '1s', baseline: true, checks: [{ name: 'l', compare: { query: 'x{role="{{ role }}"}', prometheus: { address: 'http://p:9090' }, step: '999ms' } }] } }, message: /compare.step must be at least 1s/, path: 'spec.analysis.checks[0].compare.step' },
  { name: 'a compare Prometheus address without a scheme', spec: { analysis: { interval: '1s', baseline: true, checks: [{ name: 'l', compare: { query: 'x{role="{{ role }}"}', prometheus: { address: 'p:9090' } } }] } }, message: /compare.prometheus.address must be an http:\/\/ or https:\/\/ URL/, path: 'spec.analysis.checks[0].compare.prometheus.address' },
  {
    name: 'a compare Prometheus auth Secret name with a slash',
    spec: { analysis: { interval: '1s', baseline: true, checks: [{ name: 'l', compare: { query: 'x{role="{{ role }}"}', prometheus: { address: 'http://p:9090', auth: { secretRef: { name: 'a/b' } } } } }] } },
    message: /compare.prometheus.auth.secretRef.name must be a Secret name/,
    path: 'spec.analysis.checks[0].compare.prometheus.auth.secretRef.name',
  },
  {
    name: 'a compare Prometheus CA Secret name in capitals',
    spec: { analysis: { interval: '1s', baseline: true, checks: [{ name: 'l', compare: { query: 'x{role="{{ role }}"}', prometheus: { address: 'https://p:9090', tls: { caSecretRef: { name: 'CA' } } } } }] } },
    message: /compare.prometheus.tls.caSecretRef.name must be a Secret name/,
    path: 'spec.analysis.checks[0].compare.prometheus.tls.caSecretRef.name',
  },
  { name: 'dora without a Datadog Secret', spec: { dora: { enabled: true, env: 'prod' } }, message: /datadog.secretRef is required when dora is enabled/, path: 'spec' },
  // notifications
  { name: 'a notification with two sink kinds', spec: { notifications: [{ name: 'x', slack: { webhookSecretRef: { name: 's' } }, webhook: { urlSecretRef: { name: 'h' } } }] }, message: /a notification must have exactly one of slack, webhook or datadogEvents/, path: 'spec.notifications[0]' },
  { name: 'a notification name with capitals', spec: { notifications: [{ name: 'Ops', webhook: { urlSecretRef: { name: 'h' } } }] }, message: /notifications\[\]\.name must be lowercase letters, digits and '-'/, path: 'spec.notifications[0].name' },
  { name: 'a Slack sink with a webhook and a token', spec: { notifications: [{ name: 'x', slack: { webhookSecretRef: { name: 's' }, tokenSecretRef: { name: 't' }, channel: 'C1' } }] }, message: /slack needs exactly one of webhookSecretRef or tokenSecretRef/, path: 'spec.notifications[0].slack' },
  { name: 'a Slack token without a channel', spec: { notifications: [{ name: 'x', slack: { tokenSecretRef: { name: 't' } } }] }, message: /slack.channel goes with tokenSecretRef/, path: 'spec.notifications[0].slack' },
  { name: 'Datadog events without any Datadog Secret', spec: { notifications: [{ name: 'x', datadogEvents: {} }] }, message: /a datadogEvents notification needs datadogEvents.secretRef or spec.datadog.secretRef/, path: 'spec' },
  { name: 'two notifications with the same name', spec: { notifications: [{ name: 'x', webhook: { urlSecretRef: { name: 'h' } } }, { name: 'x', webhook: { urlSecretRef: { name: 'h' } } }] }, message: /spec.notifications\[1\]: Duplicate value: \{"name":"x"\}/, path: 'spec.notifications[1]' },
];


export interface SpecCase {
  name: string;
  checks: CheckSpec[];
  message: RegExp;
}
// CEL cannot parse templates: these pass the apiserver and the controller says InvalidSpec.
export const SPEC_CASES: SpecCase[] = [
  { name: 'an unknown template variable', checks: [{ name: 'errors', datadogQuery: { query: 'avg:errors{version:{{ release }}}', max: 1 } }], message: /unknown variable "release" in "avg:errors\{version:\{\{ release \}\}\}"; known: name, namespace, revision, stableVersion, target, version/ },
  { name: 'an unclosed template', checks: [{ name: 'errors', datadogMonitor: { id: 101, group: 'version:{{ version' } }], message: /"\{\{" without a matching "\}\}" in "version:\{\{ version"/ },
  { name: 'an unknown variable in a webhook body', checks: [{ name: 'smoke', webhook: { url: 'http://tests:8080/run', body: '{"v":"{{ tag }}"}' } }], message: /unknown variable "tag"/ },
  { name: 'an unknown variable in a tag', checks: [{ name: 'errors', datadogMonitor: { tags: ['service:{{ service }}'] } }], message: /unknown variable "service"/ },
];

export const CLI_VALID = manifest('checkout', { steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }], ...withChecks() });
export interface CliCase {
  name: string;
  text: string;
  /** Expected line of output (exact), after the file name. */
  line: string;
  code: number;
}
export const CLI_CASES: CliCase[] = [
  { name: 'a name of 64 characters', text: CLI_VALID.replace('name: checkout', `name: ${long(64, 'n')}`), line: `1:1: Invalid value: metadata.name must be at most 63 characters: the Canary's name becomes a label value on its Deployment and canary pods`, code: 1 },
  { name: 'a pause over 168h', text: CLI_VALID.replace('duration: 5m', 'duration: 169h'), line: '10:7: spec.steps[1].pause: Invalid value: pause.duration must be at most 168h (7 days); for longer, use a pause without a duration and promote by hand', code: 1 },
  { name: 'a monitor id beyond int64', text: CLI_VALID.replace('id: 101', 'id: 99999999999999999999999'), line: '17:11: spec.analysis.checks[0].datadogMonitor.id: must be at most 9007199254740991, got 1e+23', code: 1 },
  { name: 'an unknown template variable', text: CLI_VALID.replace('id: 101', 'query: "tag:\\"version:{{ release }}\\""'), line: '17:11: spec.analysis.checks[0].datadogMonitor.query: unknown variable "release" in "tag:"version:{{ release }}""; known: name, namespace, revision, stableVersion, target, version', code: 1 },
  { name: 'a unicode target name', text: CLI_VALID.replace('name: web', 'name: kasse-ü'), line: `7:5: spec.targetRef.name: Invalid value: "kasse-ü": targetRef.name must be a Deployment name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`, code: 1 },
  { name: 'checks with no pause after the last setWeight (a warning, exit 0)', text: CLI_VALID.replace('    - pause:\n        duration: 5m\n', ''), line: '9:7: warning: spec.steps[0]: no pause after the last setWeight: the canary is watched only until there is one passing measurement of every check, then promoted; add a pause after it (e.g. "- pause: {duration: 10m}") to watch it for longer', code: 0 },
  { name: 'broken YAML', text: 'kind: Canary\nspec:\n  steps: [\n', line: '4:1: invalid YAML', code: 1 },
];
