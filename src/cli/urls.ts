/**
 * Gateway URLs for the CLI: `--url` (or GATEWAY_URL) may be the WebSocket URL or the HTTP base;
 * each command derives the one it needs.
 */
import { CliError } from './errors.js';

export const DEFAULT_GATEWAY_URL = 'ws://127.0.0.1:8000/ws';

/** `--url`, else GATEWAY_URL, else the local default. */
export function gatewayUrl(option: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return option ?? (env.GATEWAY_URL || DEFAULT_GATEWAY_URL);
}

function parse(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CliError(`bad gateway URL ${JSON.stringify(input)}: expected ws://HOST:PORT/ws or http://HOST:PORT`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new CliError(`bad gateway URL ${JSON.stringify(input)}: scheme must be ws, wss, http or https`);
  }
  url.hash = '';
  return url;
}

/** The WebSocket URL: http(s) becomes ws(s), and an empty path becomes /ws. */
export function toWsUrl(input: string): string {
  const url = parse(input);
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws';
  }
  return url.toString();
}

/** The HTTP base without a trailing slash: ws(s) becomes http(s), and a trailing /ws is dropped. */
export function toHttpBase(input: string): string {
  const url = parse(input);
  if (url.protocol === 'ws:' || url.protocol === 'wss:') url.protocol = url.protocol === 'ws:' ? 'http:' : 'https:';
  url.search = '';
  url.pathname = url.pathname.replace(/\/ws\/?$/, '').replace(/\/+$/, '');
  return url.toString().replace(/\/+$/, '');
}
