// Starts the local Datadog stand-in from the command line (for the demo). It is not Datadog.
//   tsx test/datadog/main.ts --port 8126 --api-key demo-api-key --app-key demo-app-key
import { parseArgs } from 'node:util';
import { DatadogStandIn, STAND_IN_BANNER } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string', default: process.env.STAND_IN_API_KEY ?? 'stand-in-api-key' },
    'app-key': { type: 'string', default: process.env.STAND_IN_APP_KEY ?? 'stand-in-app-key' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number, got "${values.port}"`);
  process.exit(2);
}

const standIn = await DatadogStandIn.start({ port, host: values.host, apiKey: values['api-key'], appKey: values['app-key'] });
console.log(STAND_IN_BANNER);
console.log(`Listening on ${standIn.url} (control endpoints under ${standIn.url}/_stand-in/)`);
console.log(standIn.url);

const stop = (): void => {
  void standIn.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
