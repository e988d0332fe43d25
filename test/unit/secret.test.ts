import { expect } from 'chai';
import { assessDatadogUrl, parseDatadogSecret } from '../../src/analysis/secret.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const API = 'abcdef0123456789abcdef0123456789';
const APP = 'fedcba9876543210fedcba9876543210fedcba98';

describe('parseDatadogSecret', () => {
  const okCases: Array<[string, Record<string, string>, object]> = [
    ['default site', { 'api-key': b64(API), 'app-key': b64(APP) }, { apiKey: API, appKey: APP, site: 'datadoghq.com' }],
    ['eu site', { 'api-key': b64(API), 'app-key': b64(APP), site: b64('datadoghq.eu') }, { apiKey: API, appKey: APP, site: 'datadoghq.eu' }],
    ['trailing newline trimmed', { 'api-key': b64(`${API}\n`), 'app-key': b64(APP), site: b64('us5.datadoghq.com\n') }, { apiKey: API, appKey: APP, site: 'us5.datadoghq.com' }],
    ['url', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://127.0.0.1:8126/') }, { apiKey: API, appKey: APP, url: 'http://127.0.0.1:8126' }],
    ['https proxy url with a path', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('https://dd-proxy.example:8443/datadog/') }, { apiKey: API, appKey: APP, url: 'https://dd-proxy.example:8443/datadog' }],
    [
      'values from files ending in newlines (kubectl create secret --from-file)',
      { 'api-key': b64(`${API}\n`), 'app-key': b64(`${APP}\r\n`), url: b64('https://dd-proxy.example\n') },
      { apiKey: API, appKey: APP, url: 'https://dd-proxy.example' },
    ],
  ];
  for (const [name, data, want] of okCases) {
    it(`accepts: ${name}`, () => expect(parseDatadogSecret(data, 'dd')).to.deep.equal({ ok: true, credentials: want }));
  }

  const badCases: Array<[string, Record<string, string> | undefined, string]> = [
    ['no data', undefined, 'Secret "dd" is missing keys api-key, app-key'],
    ['no app key', { 'api-key': b64(API) }, 'Secret "dd" is missing key app-key'],
    ['empty api key', { 'api-key': b64('  '), 'app-key': b64(APP) }, 'missing key api-key'],
    ['unknown site', { 'api-key': b64(API), 'app-key': b64(APP), site: b64('datadog.example') }, 'key site is not a known Datadog site'],
    ['bad url', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('ftp://x') }, 'key url must be an https:// URL'],
    ['not a url', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('dd-proxy.example') }, 'key url is not a URL'],
    ['link-local metadata address', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://169.254.169.254/latest/meta-data') }, 'must not point at a link-local address'],
    ['link-local over https', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('https://169.254.170.2') }, 'must not point at a link-local address'],
    ['link-local written as a number', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://2852039166/') }, 'must not point at a link-local address'],
    ['link-local in hex', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://0xa9.0xfe.0xa9.0xfe/') }, 'must not point at a link-local address'],
    ['IPv6 link-local', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://[fe80::1]/') }, 'must not point at a link-local address'],
    ['IPv4-mapped link-local', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://[::ffff:169.254.169.254]/') }, 'must not point at a link-local address'],
    ['unspecified address', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://0.0.0.0:8080') }, 'must not point at an unspecified address'],
    ['a query that would swallow the API path', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('https://collector.example/x?') }, 'must not contain a query'],
    ['a fragment', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('https://collector.example/#') }, 'must not contain a fragment'],
    ['not base64', { 'api-key': '!!!', 'app-key': b64(APP) }, 'not valid base64: api-key'],
  ];
  for (const [name, data, fragment] of badCases) {
    it(`rejects: ${name}`, () => {
      const r = parseDatadogSecret(data, 'dd');
      expect(r.ok).to.equal(false);
      if (r.ok) return;
      expect(r.reason).to.equal('SecretInvalid');
      expect(r.message).to.contain(fragment);
      expect(r.message).to.not.contain(API).and.not.contain(APP).and.not.contain('datadog.example');
    });
  }
});

describe('parseDatadogSecret url with credentials', () => {
  it('is rejected without echoing it', () => {
    const r = parseDatadogSecret({ 'api-key': b64(API), 'app-key': b64(APP), url: b64('https://user:hunter2@proxy.example') }, 'dd');
    expect(r.ok).to.equal(false);
    if (!r.ok) {
      expect(r.message).to.contain('must not contain a user name or password');
      expect(r.message).to.not.contain('hunter2');
    }
  });
});

describe('assessDatadogUrl', () => {
  const strict = { allowPlainHttp: false };
  const cases: Array<[string, boolean, string | undefined]> = [
    ['https://api.datadoghq.eu', false, undefined],
    ['https://dd-proxy.internal.example:8443', false, undefined],
    ['http://127.0.0.1:8126', false, undefined],
    ['http://127.9.8.7', false, undefined],
    ['http://localhost:9000', false, undefined],
    ['http://[::1]:9000', false, undefined],
    ['http://dd-proxy.internal.example', false, 'must use https'],
    ['http://10.0.0.7', false, 'must use https'],
    ['http://kubernetes.default.svc', false, 'must use https'],
    ['http://dd-proxy.internal.example', true, undefined],
    ['http://169.254.169.254', true, 'link-local'],
  ];
  for (const [url, allowPlainHttp, fragment] of cases) {
    it(`${url}${allowPlainHttp ? ' (plain http allowed)' : ''}: ${fragment ?? 'allowed'}`, () => {
      const r = assessDatadogUrl(url, allowPlainHttp ? { allowPlainHttp } : strict);
      if (fragment === undefined) expect(r.ok, JSON.stringify(r)).to.equal(true);
      else {
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.message).to.contain(fragment);
      }
    });
  }

  it('names the operator flag that allows plain http', () => {
    const r = assessDatadogUrl('http://dd-proxy.example', strict);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.message).to.contain('--datadog-allow-http');
  });
});
