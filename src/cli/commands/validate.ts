// depctl validate FILE...
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { EXIT, type ExitCode } from '../errors.js';
import { err, out } from '../output.js';

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function validateCommand(setExitCode: (code: ExitCode) => void): Command {
  return new Command('validate')
    .description('Check Canary manifests against the CRD (schema and CEL rules) and the controller\'s rules, without a cluster')
    .argument('<files...>', 'YAML files with one or more documents; - reads standard input')
    .addHelpText(
      'after',
      '\nPrints file:line:column: path: message for each problem and exits 1 if there is any.\n' +
        'The CRD\'s CEL rules (x-kubernetes-validations) run in a CEL engine and fail with the\n' +
        'apiserver\'s words ("spec.steps[0]: Invalid value: …"); rules on updates (oldSelf) are not checked.\n' +
        'Warnings (file:line:column: warning: path: message) do not change the exit code.\n' +
        'Documents of other kinds are skipped.\n\nExample:\n  depctl validate examples/canary-*.yaml',
    )
    .action(async (files: string[]) => {
      const [{ validateCanaryFile }, { parseAllDocuments }] = await Promise.all([import('../../api/validate.js'), import('yaml')]);
      let code: ExitCode = EXIT.ok;
      for (const file of files) {
        const label = file === '-' ? '<stdin>' : file;
        let text: string;
        try {
          text = await readInput(file);
        } catch (e) {
          err(`${label}: cannot read: ${(e as Error).message}`);
          code = EXIT.error;
          continue;
        }
        const found = validateCanaryFile(text, label);
        for (const p of found) {
          out(`${p.file}:${p.line}:${p.column}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.path ? `${p.path}: ` : ''}${p.message}`);
        }
        const warnings = found.filter((p) => p.severity === 'warning').length;
        if (found.length > warnings) {
          if (code === EXIT.ok) code = EXIT.failed;
          continue;
        }
        const canaries = parseAllDocuments(text);
        const count = Array.isArray(canaries) ? canaries.filter((d) => (d.toJS() as { kind?: unknown } | null)?.kind === 'Canary').length : 0;
        const also = warnings > 0 ? `, ${warnings} ${warnings === 1 ? 'warning' : 'warnings'}` : '';
        out(count > 0 ? `${label}: ok (${count} ${count === 1 ? 'Canary' : 'Canaries'}${also})` : `${label}: ok (no Canary found)`);
      }
      setExitCode(code);
    });
}
