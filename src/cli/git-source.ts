// `depctl release --from-git DIR`: spec.source from a git checkout, with the git on the PATH.
import { execFile } from 'node:child_process';
import type { Release, ReleaseSource } from '../api/release-types.js';
import { CliError } from './errors.js';

const GIT_TIMEOUT_MS = 15_000;
/** git's empty tree: what a first commit is compared with. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export type Git = (args: string[]) => Promise<{ ok: true; stdout: string } | { ok: false; message: string }>;

/** Runs git in `dir` with a timeout; failures are data. */
export function gitIn(dir: string): Git {
  return (args) =>
    new Promise((resolve) => {
      execFile('git', ['-C', dir, ...args], { signal: AbortSignal.timeout(GIT_TIMEOUT_MS), maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } }, (err, stdout, stderr) => {
        if (err) resolve({ ok: false, message: (stderr || err.message).trim().split('\n')[0] ?? 'git failed' });
        else resolve({ ok: true, stdout });
      });
    });
}

/** Lines added plus lines deleted in `git diff --numstat` output (binary files count 0). */
export function linesChangedOf(numstat: string): number {
  let total = 0;
  for (const line of numstat.split('\n')) {
    const [added, deleted] = line.split('\t');
    if (added === undefined || deleted === undefined) continue;
    total += (Number.parseInt(added, 10) || 0) + (Number.parseInt(deleted, 10) || 0);
  }
  return total;
}

/**
 * The commit the previous release shipped: status.history's newest Succeeded release with a
 * source revision (else the newest with one), so that the count covers every commit since.
 */
export function previousReleaseRevision(release: Release | undefined): string | undefined {
  const history = release?.status?.history ?? [];
  const withSource = history.filter((r) => r.source?.revision);
  return (withSource.find((r) => r.outcome === 'Succeeded') ?? withSource[0])?.source?.revision;
}

/** spec.source for HEAD of the checkout in `dir`; `previous` is the last released commit, if known. */
export async function sourceFromGit(git: Git, dir: string, previous: string | undefined): Promise<{ source: ReleaseSource; base: string }> {
  const head = await git(['rev-parse', '--verify', 'HEAD^{commit}']);
  if (!head.ok) throw new CliError(`--from-git ${dir}: not a git checkout with a commit (${head.message})`);
  const revision = head.stdout.trim();
  const show = await git(['show', '-s', '--format=%cI%n%an', 'HEAD']);
  if (!show.ok) throw new CliError(`--from-git ${dir}: cannot read commit ${revision} (${show.message})`);
  const [committed = '', author = ''] = show.stdout.split('\n');
  const source: ReleaseSource = { revision };
  const origin = await git(['remote', 'get-url', 'origin']);
  if (origin.ok && origin.stdout.trim()) source.repository = withoutCredentials(origin.stdout.trim());
  const t = Date.parse(committed.trim());
  if (!Number.isNaN(t)) source.committedAt = new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (author.trim()) source.author = author.trim();
  // The base: the previous release's commit when this checkout has it, else the parent commit.
  let base: string | undefined;
  if (previous && (await git(['cat-file', '-e', `${previous}^{commit}`])).ok) base = previous;
  if (base === undefined) {
    const parent = await git(['rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}']);
    base = parent.ok ? parent.stdout.trim() : EMPTY_TREE;
  }
  const diff = await git(['diff', '--numstat', base, revision]);
  if (!diff.ok) throw new CliError(`--from-git ${dir}: git diff --numstat ${base} ${revision} failed (${diff.message})`);
  source.linesChanged = linesChangedOf(diff.stdout);
  return { source, base };
}

/** A remote URL without user:password@ (an https URL with a token must not land in the cluster). */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
