// A request's deadline that goes away with the request.
//
// AbortSignal.timeout(ms) leaves its timer running after the request is done: ms later it fires
// and builds a TimeoutError (a stack trace) for a signal nobody listens to any more. After a
// burst of thousands of API requests the idle operator spent a good part of its CPU on those
// late timers and their garbage. timedSignal's timer is cleared by release(), which callers run
// once the request (its body included) is over.

export interface TimedSignal {
  readonly signal: AbortSignal;
  /** Clears the timer and stops following the parent signal. */
  release(): void;
}

/** Aborts after `ms` with a TimeoutError (as AbortSignal.timeout does), or when `parent` aborts, with its reason. */
export function timedSignal(ms: number, parent?: AbortSignal): TimedSignal {
  const ac = new AbortController();
  if (parent?.aborted) {
    ac.abort(parent.reason);
    return { signal: ac.signal, release: () => undefined };
  }
  const timer = setTimeout(() => ac.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  timer.unref();
  const follow = (): void => ac.abort(parent!.reason);
  parent?.addEventListener('abort', follow, { once: true });
  return {
    signal: ac.signal,
    release: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', follow);
    },
  };
}
