/**
 * The one polling helper of the test suite: every "wait until X holds" goes through it, so there
 * is one place that decides how often to look and what a time-out says.
 */

/**
 * Polls `check` every `intervalMs` until it returns true; fails after `timeoutMs` with
 * "timed out waiting for `what`". An exception thrown by `check` ends the wait at once (use it
 * for "this will never happen now", e.g. the process being waited on has exited).
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
