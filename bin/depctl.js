#!/usr/bin/env node
// depctl / kubectl-deployer entry point. Plain JavaScript without top-level await or static imports,
// so that even an old Node parses it and can tell the user that it is too old.
var REQUIRED = [22, 19];
var parts = process.versions.node.split('.').map(Number);
if (parts[0] < REQUIRED[0] || (parts[0] === REQUIRED[0] && parts[1] < REQUIRED[1])) {
  process.stderr.write(
    'depctl needs Node.js >= ' + REQUIRED.join('.') + ', but this is Node.js ' + process.versions.node +
      ' (' + process.execPath + '). Install a current LTS such as Node 24, or run it with npx, which uses the project\'s Node.\n',
  );
  process.exit(1);
}

function fail(err) {
  process.stderr.write('depctl: cannot start: ' + (err && err.message ? err.message : String(err)) + '\n');
  if (process.env.DEPCTL_DEBUG === '1' && err && err.stack) process.stderr.write(err.stack + '\n');
  process.exit(2);
}

import('node:fs')
  .then(function (fs) {
    var compiled = new URL('../dist/src/cli/main.js', import.meta.url);
    if (fs.existsSync(compiled)) return import(compiled.href);
    // A source checkout without a build: compile TypeScript on the fly.
    return import('tsx/esm/api').then(function (tsx) {
      tsx.register();
      return import(new URL('../src/cli/main.ts', import.meta.url).href);
    });
  }, fail)
  .then(function (cli) {
    return cli.main(process.argv);
  })
  .catch(fail);
