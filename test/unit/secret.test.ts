import { expect } from 'chai';
import { parseDatadogSecret } from '../../src/analysis/secret.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const API = 'abcdef0123456789abcdef0123456789';
const APP = 'fedcba9876543210fedcba9876543210fedcba98';

describe('parseDatadogSecret', () => {
  const okCases: Array<[string, Record<string, string>, object]> = [
    ['default site', { 'api-key': b64(API), 'app-key': b64(APP) }, { apiKey: API, appKey: APP, site: 'datadoghq.com' }],
    ['eu site', { 'api-key': b64(API), 'app-key': b64(APP), site: b64('datadoghq.eu') }, { apiKey: API, appKey: APP, site: 'datadoghq.eu' }],
    ['trailing newline trimmed', { 'api-key': b64(`${API}\n`), 'app-key': b64(APP), site: b64('us5.datadoghq.com\n') }, { apiKey: API, appKey: APP, site: 'us5.datadoghq.com' }],
    ['url', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('http://127.0.0.1:8126/') }, { apiKey: API, appKey: APP, url: 'http://127.0.0.1:8126' }],
  ];
  for (const [name, data, want] of okCases) {
    it(`accepts: ${name}`, () => expect(parseDatadogSecret(data, 'dd')).to.deep.equal({ ok: true, credentials: want }));
  }

  const badCases: Array<[string, Record<string, string> | undefined, string]> = [
    ['no data', undefined, 'Secret "dd" is missing keys api-key, app-key'],
    ['no app key', { 'api-key': b64(API) }, 'Secret "dd" is missing key app-key'],
    ['empty api key', { 'api-key': b64('  '), 'app-key': b64(APP) }, 'missing key api-key'],
    ['unknown site', { 'api-key': b64(API), 'app-key': b64(APP), site: b64('datadog.example') }, 'key site is not a known Datadog site'],
    ['bad url', { 'api-key': b64(API), 'app-key': b64(APP), url: b64('ftp://x') }, 'key url is not an http:// or https:// URL'],
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
