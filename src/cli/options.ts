// Options every command shares, read from commander's global options.
import type { Command } from 'commander';
import type { ConnectOptions } from './kube.js';

export interface GlobalOptions extends ConnectOptions {
  allNamespaces?: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<{ kubeconfig?: string; context?: string; namespace?: string; allNamespaces?: boolean }>();
  const res: GlobalOptions = {};
  if (o.kubeconfig) res.kubeconfig = o.kubeconfig;
  if (o.context) res.context = o.context;
  if (o.namespace) res.namespace = o.namespace;
  if (o.allNamespaces) res.allNamespaces = true;
  return res;
}
