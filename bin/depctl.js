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

// The compiled CLI (tsc -p tsconfig.build.json: npm run build:cli; npm pack runs it, so a package always has it).
// No TypeScript loader at run time: a source checkout without a build says how to build it.
import('node:fs')
  .then(function (fs) {
    var compiled = new URL('../dist/src/cli/main.js', import.meta.url);
    if (!fs.existsSync(compiled)) {
      process.stderr.write(
        'depctl: not built: run `npm run build:cli` in ' + new URL('..', import.meta.url).pathname + ' (npm run demo, npm test and npm pack build it too)\n',
      );
      process.exit(2);
    }
    return import(compiled.href);
  })
  .then(function (cli) {
    return cli.main(process.argv);
  })
  .catch(fail);
