// Remote text made fit for status: control characters removed, whitespace collapsed, bounded.
import { MAX_EXCERPT, sanitizeText } from './datadog/fetch.js';

/** At most `max` characters of a remote text, cleaned; an ellipsis marks the cut. */
export function excerpt(text: string, max = MAX_EXCERPT): string {
  const clean = sanitizeText(text);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
