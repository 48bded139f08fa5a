/**
 * src/config.ts: loadConfig(env) against docs/operations.md "Configuration" (defaults, parsing, one error naming
 * every bad variable, secrets never echoed, frozen result).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, configWith, defaultVerifyThreads, loadConfig } from '../../src/config.js';
import { usableCores } from '../../src/cpu-limit.js';

/** Runs loadConfig expecting a ConfigError and returns it. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** Names of the variables a ConfigError complains about (each problem starts with `NAME:`). */
function badNames(err: ConfigError): string[] {
  return [...new Set(err.problems.map((p) => p.slice(0, p.indexOf(':'))))].sort();
}

const NUMERIC_VARS = [
  'AGENT_TIMEOUT',
  'HEARTBEAT_INTERVAL',
  'AUTH_TIMEOUT',
  'CLOCK_SKEW',
  'MAX_FRAME_BYTES',
  'MAX_AGENTS',
  'RATE_LIMIT',
  'RATE_BURST',
] as const;

describe('loadConfig defaults (docs/operations.md "Configuration")', () => {
  it('uses the documented defaults, durations converted from seconds to ms', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      logLevel: 'info',
      host: '127.0.0.1',
      port: 8000,
      gatewayId: 'aiconexus-gateway',
      agentTimeoutMs: 300_000,
      heartbeatIntervalMs: 30_000,
      authTimeoutMs: 10_000,
      clockSkewMs: 30_000,
      maxFrameBytes: 65536,
      maxAgents: 10000,
      rateLimit: 50,
      rateBurst: 200,
      adminToken: undefined,
      redisUrl: undefined,
      redisKeyPrefix: 'aiconexus:',
      workers: 1,
      maxBufferedBytes: 1_048_576,
      verifyThreads: Math.min(4, usableCores()),
      verifyInlineMaxLoad: 0.75,
      signatureVerifier: 'auto',
      maxConnectionsPerIp: 256,
      maxSocketsPerIp: 320,
      httpIdleTimeoutMs: 10_000,
      httpHeadersTimeoutMs: 10_000,
      httpRateLimit: 120,
      connectRateLimit: 120,
      allowedOrigins: undefined,
      trustProxy: false,
      apiDocs: false,
      stunUrls: [],
      turnUrls: [],
      turnSecret: undefined,
      turnTtlMs: 3_600_000,
    });
  });

  it('treats an empty string like an unset variable', () => {
    const env: Record<string, string> = {
      LOG_LEVEL: '',
      GATEWAY_HOST: '',
      GATEWAY_PORT: '',
      GATEWAY_ID: '',
      ADMIN_TOKEN: '',
      REDIS_URL: '',
    };
    for (const name of NUMERIC_VARS) env[name] = '';
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });

  it('ignores unrelated variables', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root', GATEWAY_PORTS: 'x' })).toEqual(loadConfig({}));
  });

  it('returns a frozen object', () => {
    const c = loadConfig({ GATEWAY_PORT: '9000' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(c.port).toBe(9000);
  });
});

describe('loadConfig parses every variable', () => {
  it('reads each variable and converts seconds to ms', () => {
    const c = loadConfig({
      LOG_LEVEL: 'debug',
      GATEWAY_HOST: '0.0.0.0',
      GATEWAY_PORT: '9123',
      GATEWAY_ID: 'gw-eu-1',
      AGENT_TIMEOUT: '61',
      HEARTBEAT_INTERVAL: '7',
      AUTH_TIMEOUT: '3',
      CLOCK_SKEW: '45',
      MAX_FRAME_BYTES: '1024',
      MAX_AGENTS: '12',
      RATE_LIMIT: '5',
      RATE_BURST: '9',
      ADMIN_TOKEN: 'a-very-long-admin-token',
      REDIS_URL: 'redis://127.0.0.1:6390',
      REDIS_KEY_PREFIX: 'eu:',
      GATEWAY_WORKERS: '2',
      MAX_BUFFERED_BYTES: '4096',
      VERIFY_THREADS: '3',
      VERIFY_INLINE_MAX_LOAD: '70',
      SIGNATURE_VERIFIER: 'openssl',
      MAX_CONNECTIONS_PER_IP: '3',
      MAX_SOCKETS_PER_IP: '11',
      HTTP_IDLE_TIMEOUT: '4',
      HTTP_HEADERS_TIMEOUT: '6',
      HTTP_RATE_LIMIT: '13',
      CONNECT_RATE_LIMIT: '7',
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000',
      TRUST_PROXY: 'true',
      API_DOCS: 'true',
      STUN_URLS: 'stun:stun.example.com:3478, stuns:[2001:db8::1]',
      TURN_URLS: 'turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp',
      TURN_SECRET: 'a-turn-secret-of-some-length',
      TURN_TTL: '600',
    });
    expect(c).toEqual({
      logLevel: 'debug',
      host: '0.0.0.0',
      port: 9123,
      gatewayId: 'gw-eu-1',
      agentTimeoutMs: 61_000,
      heartbeatIntervalMs: 7_000,
      authTimeoutMs: 3_000,
      clockSkewMs: 45_000,
      maxFrameBytes: 1024,
      maxAgents: 12,
      rateLimit: 5,
      rateBurst: 9,
      adminToken: 'a-very-long-admin-token',
      redisUrl: 'redis://127.0.0.1:6390',
      redisKeyPrefix: 'eu:',
      workers: 2,
      maxBufferedBytes: 4096,
      verifyThreads: 3,
      verifyInlineMaxLoad: 0.7,
      signatureVerifier: 'openssl',
      maxConnectionsPerIp: 3,
      maxSocketsPerIp: 11,
      httpIdleTimeoutMs: 4_000,
      httpHeadersTimeoutMs: 6_000,
      httpRateLimit: 13,
      connectRateLimit: 7,
      allowedOrigins: ['https://a.example', 'http://localhost:3000'],
      trustProxy: true,
      apiDocs: true,
      stunUrls: ['stun:stun.example.com:3478', 'stuns:[2001:db8::1]'],
      turnUrls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp'],
      turnSecret: 'a-turn-secret-of-some-length',
      turnTtlMs: 600_000,
    });
  });

  it('refuses bad ICE server settings, and never echoes TURN_SECRET', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(problems({ STUN_URLS: 'http://stun.example.com' })).toContain('STUN_URLS: must be a comma-separated list');
    expect(problems({ TURN_URLS: 'stun:x.example.com', TURN_SECRET: 'sixteen-chars-ok!' })).toContain('TURN_URLS:');
    expect(problems({ TURN_URLS: 'turn:x.example.com?transport=sctp', TURN_SECRET: 'sixteen-chars-ok!' })).toContain('TURN_URLS:');
    expect(problems({ TURN_URLS: 'turn:x.example.com' })).toContain('TURN_URLS: needs TURN_SECRET');
    expect(problems({ TURN_SECRET: 'sixteen-chars-ok!' })).toContain('TURN_SECRET: set without TURN_URLS');
    const short = problems({ TURN_URLS: 'turn:x.example.com', TURN_SECRET: 'short-secret' });
    expect(short).toContain('TURN_SECRET: must be at least 16 characters');
    expect(short).not.toContain('short-secret');
    expect(problems({ TURN_TTL: '0' })).toContain('TURN_TTL');
    expect(problems({ TURN_TTL: String(8 * 24 * 3600) })).toContain('TURN_TTL');
  });

  it('derives MAX_SOCKETS_PER_IP from MAX_CONNECTIONS_PER_IP, with no TCP cap behind a trusted proxy unless set', () => {
    expect(loadConfig({ MAX_CONNECTIONS_PER_IP: '10' }).maxSocketsPerIp).toBe(74);
    expect(loadConfig({ TRUST_PROXY: 'true' }).maxSocketsPerIp).toBe(Number.POSITIVE_INFINITY);
    expect(loadConfig({ TRUST_PROXY: 'true', MAX_SOCKETS_PER_IP: '500' }).maxSocketsPerIp).toBe(500);
    expect(configWith({ maxConnectionsPerIp: 1000 }).maxSocketsPerIp).toBe(1064);
    expect(() => loadConfig({ MAX_SOCKETS_PER_IP: '0' })).toThrow(/MAX_SOCKETS_PER_IP: must be a positive integer/);
  });

  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts LOG_LEVEL=%s', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it('accepts the port range ends 0 and 65535', () => {
    expect(loadConfig({ GATEWAY_PORT: '0' }).port).toBe(0);
    expect(loadConfig({ GATEWAY_PORT: '65535' }).port).toBe(65535);
  });

  it.each([
    ['AGENT_TIMEOUT', 'agentTimeoutMs', 1000],
    ['HEARTBEAT_INTERVAL', 'heartbeatIntervalMs', 1000],
    ['AUTH_TIMEOUT', 'authTimeoutMs', 1000],
    ['CLOCK_SKEW', 'clockSkewMs', 1000],
    ['MAX_FRAME_BYTES', 'maxFrameBytes', 1],
    ['MAX_AGENTS', 'maxAgents', 1],
    ['RATE_LIMIT', 'rateLimit', 1],
    ['RATE_BURST', 'rateBurst', 1],
  ] as const)('accepts %s=1 (the smallest positive integer) and changes only %s', (name, field, expected) => {
    const c = loadConfig({ [name]: '1' });
    expect(c).toEqual({ ...loadConfig({}), [field]: expected });
  });

  it('accepts leading zeros as a decimal integer', () => {
    expect(loadConfig({ RATE_LIMIT: '007' }).rateLimit).toBe(7);
  });

  it('accepts an ADMIN_TOKEN of exactly 16 characters', () => {
    expect(loadConfig({ ADMIN_TOKEN: '0123456789abcdef' }).adminToken).toBe('0123456789abcdef');
  });
});

describe('loadConfig rejects invalid values', () => {
  it.each(['0', '-1', '1.5', '1e3', 'abc', ' 5', '5 ', '0x10', '+5', '99999999999999999999'])(
    'rejects %j for every numeric variable',
    (value) => {
      for (const name of NUMERIC_VARS) {
        const err = configError({ [name]: value });
        expect(badNames(err)).toEqual([name]);
      }
    },
  );

  it.each(['65536', '-1', '80.5', 'http', '100000'])('rejects GATEWAY_PORT=%j', (value) => {
    expect(badNames(configError({ GATEWAY_PORT: value }))).toEqual(['GATEWAY_PORT']);
  });

  it.each(['INFO', 'verbose', 'warning', ' info'])('rejects LOG_LEVEL=%j', (value) => {
    expect(badNames(configError({ LOG_LEVEL: value }))).toEqual(['LOG_LEVEL']);
  });

  it('rejects an ADMIN_TOKEN shorter than 16 characters', () => {
    expect(badNames(configError({ ADMIN_TOKEN: '0123456789abcde' }))).toEqual(['ADMIN_TOKEN']);
  });

  it('accepts a redis:// or rediss:// REDIS_URL and rejects anything else', () => {
    expect(loadConfig({ REDIS_URL: 'redis://localhost:6379' }).redisUrl).toBe('redis://localhost:6379');
    expect(loadConfig({ REDIS_URL: 'rediss://u:p@h:6380/1' }).redisUrl).toBe('rediss://u:p@h:6380/1');
    expect(badNames(configError({ REDIS_URL: 'http://localhost:6379' }))).toEqual(['REDIS_URL']);
  });

  it('requires REDIS_URL for more than one worker', () => {
    expect(loadConfig({ GATEWAY_WORKERS: '2', REDIS_URL: 'redis://h:1' }).workers).toBe(2);
    expect(badNames(configError({ GATEWAY_WORKERS: '2' }))).toEqual(['GATEWAY_WORKERS']);
    expect(badNames(configError({ GATEWAY_WORKERS: '0' }))).toEqual(['GATEWAY_WORKERS']);
  });

  it('defaults VERIFY_THREADS to the cores shared among GATEWAY_WORKERS, 1 to 4 per process', () => {
    expect(defaultVerifyThreads(1, 2)).toBe(2);
    expect(defaultVerifyThreads(1, 16)).toBe(4);
    expect(defaultVerifyThreads(2, 8)).toBe(4);
    expect(defaultVerifyThreads(4, 8)).toBe(2);
    expect(defaultVerifyThreads(3, 2)).toBe(1);
    expect(loadConfig({ GATEWAY_WORKERS: '64', REDIS_URL: 'redis://h:1' }).verifyThreads).toBe(1);
  });

  it('bounds VERIFY_THREADS to 1..64', () => {
    expect(loadConfig({ VERIFY_THREADS: '64' }).verifyThreads).toBe(64);
    expect(badNames(configError({ VERIFY_THREADS: '65' }))).toEqual(['VERIFY_THREADS']);
    expect(badNames(configError({ VERIFY_THREADS: '0' }))).toEqual(['VERIFY_THREADS']);
  });

  it('takes SIGNATURE_VERIFIER as auto (default), libsodium or openssl', () => {
    expect(loadConfig({}).signatureVerifier).toBe('auto');
    expect(loadConfig({ SIGNATURE_VERIFIER: '' }).signatureVerifier).toBe('auto');
    expect(loadConfig({ SIGNATURE_VERIFIER: 'libsodium' }).signatureVerifier).toBe('libsodium');
    for (const bad of ['sodium', 'OpenSSL', 'noble']) {
      expect(badNames(configError({ SIGNATURE_VERIFIER: bad }))).toEqual(['SIGNATURE_VERIFIER']);
    }
  });

  it('takes VERIFY_INLINE_MAX_LOAD as a whole percentage, 0 to 100 (default 75)', () => {
    expect(loadConfig({}).verifyInlineMaxLoad).toBe(0.75);
    expect(loadConfig({ VERIFY_INLINE_MAX_LOAD: '0' }).verifyInlineMaxLoad).toBe(0);
    expect(loadConfig({ VERIFY_INLINE_MAX_LOAD: '100' }).verifyInlineMaxLoad).toBe(1);
    for (const bad of ['101', '-1', '0.5', '50%']) {
      expect(badNames(configError({ VERIFY_INLINE_MAX_LOAD: bad }))).toEqual(['VERIFY_INLINE_MAX_LOAD']);
    }
  });

  it('rejects ALLOWED_ORIGINS entries that are not origins, and booleans other than true/false', () => {
    expect(badNames(configError({ ALLOWED_ORIGINS: 'https://ok.example,not an origin' }))).toEqual(['ALLOWED_ORIGINS']);
    expect(badNames(configError({ ALLOWED_ORIGINS: 'https://a.example/path' }))).toEqual(['ALLOWED_ORIGINS']);
    expect(badNames(configError({ TRUST_PROXY: 'yes', API_DOCS: '1' }))).toEqual(['API_DOCS', 'TRUST_PROXY']);
  });

  it('validates REDIS_KEY_PREFIX', () => {
    expect(loadConfig({ REDIS_KEY_PREFIX: 'prod:gw:' }).redisKeyPrefix).toBe('prod:gw:');
    expect(badNames(configError({ REDIS_KEY_PREFIX: 'has space' }))).toEqual(['REDIS_KEY_PREFIX']);
  });

  it('names every bad variable in one error', () => {
    const env = {
      LOG_LEVEL: 'loud',
      GATEWAY_PORT: '65536',
      AGENT_TIMEOUT: '0',
      HEARTBEAT_INTERVAL: '-5',
      AUTH_TIMEOUT: '1.5',
      CLOCK_SKEW: 'abc',
      MAX_FRAME_BYTES: '0',
      MAX_AGENTS: '-1',
      RATE_LIMIT: '2.0',
      RATE_BURST: 'lots',
      ADMIN_TOKEN: 'short',
      REDIS_URL: 'cache:6379',
      // valid ones must not be reported
      GATEWAY_HOST: '::1',
      GATEWAY_ID: 'gw',
    };
    const err = configError(env);
    const expected = Object.keys(env)
      .filter((k) => k !== 'GATEWAY_HOST' && k !== 'GATEWAY_ID')
      .sort();
    expect(badNames(err)).toEqual(expected);
    for (const name of expected) expect(err.message).toContain(name);
    expect(err.message).not.toContain('GATEWAY_HOST');
  });

  it('never echoes ADMIN_TOKEN or REDIS_URL values in the message or problems', () => {
    const token = 'tok-SECRET-9';
    const url = 'tcp://user:hunter2-SECRET@redis.internal:6379/0';
    const err = configError({ ADMIN_TOKEN: token, REDIS_URL: url, GATEWAY_PORT: 'nope' });
    expect(badNames(err)).toEqual(['ADMIN_TOKEN', 'GATEWAY_PORT', 'REDIS_URL']);
    const text = err.message + '\n' + err.problems.join('\n') + '\n' + String(err.stack);
    expect(text).not.toContain(token);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('SECRET');
    // a non-secret bad value is echoed, which helps the operator
    expect(err.message).toContain('"nope"');
  });

  // AUTH_TIMEOUT and HEARTBEAT_INTERVAL feed setTimeout/setInterval (src/ws/session.ts,
  // src/ws/hub.ts), which hold at most 2^31 − 1 ms; a larger delay fires after 1 ms (Node's
  // TimeoutOverflowWarning). AUTH_TIMEOUT=2147484 would close every connection with 4408 at once,
  // HEARTBEAT_INTERVAL=2147484 would ping every connection every millisecond. Start-up should
  // refuse such values rather than misbehave (a clear error for bad input).
  it.each(['AUTH_TIMEOUT', 'HEARTBEAT_INTERVAL'])(
    'rejects %s beyond what a Node timer can hold (2147484 s > 2^31-1 ms)',
    (name) => {
      expect(loadConfig({ [name]: '2147483' })).toBeDefined(); // 2147483000 ms still fits
      expect(badNames(configError({ [name]: '2147484' }))).toEqual([name]);
    },
  );

  it('reports a bad value even when other variables are valid', () => {
    const err = configError({ GATEWAY_PORT: '8080', RATE_LIMIT: '0' });
    expect(badNames(err)).toEqual(['RATE_LIMIT']);
    expect(err.name).toBe('ConfigError');
  });
});
