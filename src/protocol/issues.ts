/**
 * zod validation errors as short readable text, in one place: the gateway's ERROR messages and
 * HTTP 400s name the first issue ({@link schemaError}); the client SDK's errors list up to three
 * ({@link issuesLine}). Both write an issue as `path: message` ({@link formatIssue}).
 *
 * Browser-safe (a type-only import of zod): the client SDK shares it. Typed with zod core's error
 * (`$ZodError`), which both APIs produce: the frame schemas are `zod/mini` (protocol/frames.ts),
 * the gateway's configuration and HTTP schemas `zod`.
 */
import type { $ZodError, $ZodIssue } from 'zod/v4/core';

type Issue = $ZodIssue;

/**
 * One issue as `path: message` (path segments joined with dots). An issue about the value itself
 * (empty path) is named `subject` when one is given, else it is its message alone.
 */
export function formatIssue(issue: Issue, subject?: string): string {
  if (issue.path.length > 0) return `${issue.path.join('.')}: ${issue.message}`;
  return subject === undefined ? issue.message : `${subject}: ${issue.message}`;
}

/** One readable line from a zod error: the first issue's path and message (at most 200 characters). */
export function schemaError(error: $ZodError, subject = 'frame'): string {
  const issue = error.issues[0];
  if (!issue) return `${subject} does not match the schema`;
  return formatIssue(issue, subject).slice(0, 200);
}

/** The first `max` issues of a zod error as one line: `path: message; …`. */
export function issuesLine(error: $ZodError, max = 3): string {
  return error.issues
    .slice(0, max)
    .map((issue) => formatIssue(issue))
    .join('; ');
}
