// depctl release NAME --version V [--image DEPLOYMENT[/CONTAINER]=IMAGE]... [--deployment D]... [--from-git DIR]
import { Command, Option } from 'commander';
import type { Release } from '../../api/release-types.js';
import { CliError } from '../errors.js';
import { gitIn, previousReleaseRevision, sourceFromGit } from '../git-source.js';
import { connect } from '../kube.js';
import { globalOptions } from '../options.js';
import { out, serialize } from '../output.js';
import { newRelease, ReleaseApi } from '../release-kube.js';
import { parseImageFlag, releaseSpec, type ImageFlag } from '../release-spec.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const CONFLICT_RETRIES = 3;

interface ReleaseOptions {
  version: string;
  image: string[];
  deployment: string[];
  fromGit?: string;
  dryRun?: boolean;
  output?: 'json' | 'yaml';
}

export function releaseCommand(): Command {
  return new Command('release')
    .description('Release a version of an application: create or update its Release (one new generation)')
    .argument('<name>', 'the Release (one per application and namespace)')
    .requiredOption('--version <version>', 'the version of the application, e.g. 1.4.2')
    .option('--image <target=image>', 'DEPLOYMENT=IMAGE (container named as the Deployment) or DEPLOYMENT/CONTAINER=IMAGE; repeat per container', collect, [])
    .option('--deployment <name>', 'a target released as the template it holds (no image change); repeat per Deployment', collect, [])
    .option('--from-git <dir>', 'fill spec.source from the git checkout in DIR: origin URL, HEAD commit, its time and author, lines changed since the last release')
    .option('--dry-run', 'print the Release that would be written, and write nothing')
    .addOption(new Option('-o, --output <format>', 'print the written Release').choices(['json', 'yaml']))
    .addHelpText(
      'after',
      [
        '',
        'Targets already in the Release stay; the images given are set on their targets (a Deployment not yet',
        'listed becomes a new target). Without --from-git, spec.source is removed (it described another version).',
        'Lines changed count added + deleted lines from the previous release\'s commit (status.history, when the',
        'checkout has it) to HEAD, else from HEAD~1.',
        '',
        'Examples:',
        '  depctl release shop --version 1.4.2 --image api=ghcr.io/acme/api:1.4.2 --image web=ghcr.io/acme/web:1.4.2',
        '  depctl release shop --version 1.4.2 --image api/proxy=ghcr.io/acme/proxy:2.1 --deployment worker --from-git .',
        '  depctl status release/shop --watch',
      ].join('\n'),
    )
    .action(async (name: string, opts: ReleaseOptions, cmd: Command) => {
      const images: ImageFlag[] = opts.image.map(parseImageFlag);
      const cluster = await connect(globalOptions(cmd));
      const api = new ReleaseApi(cluster);
      const ns = cluster.namespace;
      for (let attempt = 1; ; attempt++) {
        const existing = await api.find(ns, name);
        const source = opts.fromGit ? (await sourceFromGit(gitIn(opts.fromGit), opts.fromGit, previousReleaseRevision(existing))).source : undefined;
        const spec = releaseSpec(existing?.spec, { version: opts.version, images, deployments: opts.deployment, ...(source ? { source } : {}) });
        if (opts.dryRun) {
          const preview: Release = existing ? { ...existing, spec } : newRelease(ns, name, spec);
          delete preview.status;
          out(await serialize(preview, opts.output ?? 'yaml'));
          return;
        }
        let written: Release;
        try {
          written = existing
            ? await api.patch(ns, name, { metadata: { resourceVersion: existing.metadata.resourceVersion }, spec: { ...spec, source: spec.source ?? null } })
            : await api.create(newRelease(ns, name, spec));
        } catch (e) {
          const conflict = e instanceof CliError && /conflict|the object has been modified|already exists/i.test(e.message);
          if (conflict && attempt < CONFLICT_RETRIES) continue;
          throw e;
        }
        if (opts.output) {
          out(await serialize(written, opts.output));
          return;
        }
        const changed = existing === undefined || written.metadata.generation !== existing.metadata.generation;
        out(
          changed
            ? `release ${ns}/${name} version ${spec.version} ${existing ? 'updated' : 'created'} (generation ${written.metadata.generation ?? 1}); follow it with: depctl status release/${name} -n ${ns} --watch`
            : `release ${ns}/${name} already at version ${spec.version} with these targets: nothing changed`,
        );
        return;
      }
    });
}
