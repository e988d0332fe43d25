// The operator's entry point: `npm start` (against the current kubeconfig) or in a cluster.
// Checks the Node.js version before loading anything that needs a newer one.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`deployer needs Node.js >= 22.19; this is ${process.versions.node}. Run it with npm start, which uses the project's Node.js.\n`);
  process.exit(1);
}
// Before the operator's modules load: client-node's generated typed clients stay out (src/runtime/lean-modules.ts).
const { skipTypedApiClients } = await import('./runtime/lean-modules.js');
skipTypedApiClients();
await import('./operator-command.js');
