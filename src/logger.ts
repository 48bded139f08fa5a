/**
 * pino options for the gateway's logger (Fastify's logger). JSON lines; secrets never logged.
 */
import type { FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';

/** Paths redacted from every log line, whatever a caller passes in. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'sig',
  '*.sig',
  'nonce',
  '*.nonce',
  'token',
  '*.token',
];

/** Logger options for `buildApp`: the configured level, redaction, and the gateway id on every line. */
export function loggerOptions(config: Config): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: config.logLevel,
    base: { gateway: config.gatewayId },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}
