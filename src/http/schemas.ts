/**
 * JSON Schemas shared by the HTTP routes. They feed the OpenAPI document (@fastify/swagger) and
 * Fastify's response serializer, which drops properties a schema does not list: every object
 * therefore keeps `additionalProperties: true`, so a field added to a route is never lost silently.
 */
import type { FastifyReply } from 'fastify';
import { httpError, type HttpErrorCode } from '../errors.js';

/** `{ error, message }`: the body of every 4xx a route sends itself. */
export const errorResponse = {
  type: 'object',
  properties: {
    error: { type: 'string', description: 'Stable machine-readable code, e.g. `bad_request`, `unauthorized`.' },
    message: { type: 'string', description: 'Human-readable explanation.' },
  },
  required: ['error', 'message'],
  additionalProperties: true,
} as const;

/** An error response with its OpenAPI description. */
export const errorReply = (description: string) => ({ ...errorResponse, description });

/** Sends the `{ error, message }` reply of `code` with its status (src/errors.ts httpErrorTable). */
export function sendHttpError(reply: FastifyReply, code: HttpErrorCode, detail?: string): FastifyReply {
  const { status, body } = httpError(code, detail);
  return reply.code(status).send(body);
}
