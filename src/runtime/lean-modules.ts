// Start-up memory: the operator talks to the API server with its own JSON client (RawClient,
// Watch) and never builds client-node's typed API clients. Yet client-node's KubeConfig module
// imports their generated code (./gen/index.js: every API group, model and serializer), which
// costs ~40 MiB of RSS and ~15 MiB of V8 heap at start-up. The operator's entry point installs
// this resolve hook before anything else loads: KubeConfig then gets a stand-in for the two names
// it imports from there, which only its makeApiClient() uses (it says so if ever called).
import { registerHooks } from 'node:module';

const STAND_IN = `data:text/javascript,${encodeURIComponent(
  [
    'const no = () => { throw new Error("the deployer operator does not load client-node typed API clients (KubeConfig.makeApiClient)"); };',
    'export const createConfiguration = no;',
    'export class ServerConfiguration { constructor() { no(); } }',
  ].join('\n'),
)}`;

/** True for client-node's import of its generated API clients from the KubeConfig module. */
export function isTypedClientsImport(specifier: string, parentURL: string | undefined): boolean {
  return specifier === './gen/index.js' && (parentURL?.endsWith('/@kubernetes/client-node/dist/config.js') ?? false);
}

let installed = false;

/** Installs the hook once (the operator's entry point calls it before importing the operator). */
export function skipTypedApiClients(): void {
  if (installed) return;
  installed = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (isTypedClientsImport(specifier, context.parentURL)) return { url: STAND_IN, shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}
