/**
 * The agent key file written by `aiconexus keygen` and read by `--key`:
 * `{"did":"did:key:z6Mk…","secretKey":"<base64url, 32 bytes>","publicKey":"<base64url, 32 bytes>"}`,
 * mode 0600. An OKP/Ed25519 private JWK is accepted too.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { fromBase64url, importJwk, importRawKey, toBase64url, type KeyPair } from '../client/index.js';
import { CliError } from './errors.js';

export interface KeyFile {
  did: string;
  secretKey: string;
  publicKey: string;
}

export function toKeyFile(key: KeyPair): KeyFile {
  return { did: key.did, secretKey: toBase64url(key.secretKey), publicKey: toBase64url(key.publicKey) };
}

/** Writes the key file with mode 0600; refuses to replace an existing file unless `force`. */
export async function writeKeyFile(path: string, key: KeyPair, force: boolean): Promise<void> {
  const text = `${JSON.stringify(toKeyFile(key), null, 2)}\n`;
  try {
    await writeFile(path, text, { mode: 0o600, flag: force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(`${path} already exists; use --force to overwrite it`);
    throw new CliError(`cannot write ${path}: ${(err as Error).message}`);
  }
  // `mode` applies only when the file is created: an overwritten file keeps its old mode.
  await chmod(path, 0o600);
}

/** Reads and checks a key file; every problem is a CliError naming the file. */
export async function readKeyFile(path: string, warn: (line: string) => void = () => {}): Promise<KeyPair> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`key file not found: ${path} (create one with 'aiconexus keygen --out ${path}')`);
    throw new CliError(`cannot read key file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`bad key file ${path}: not JSON`);
  }
  if (typeof json !== 'object' || json === null) throw new CliError(`bad key file ${path}: not a JSON object`);
  const key = parseKey(json as Record<string, unknown>, path);
  if (process.platform !== 'win32') {
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) warn(`warning: key file ${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 ${path}`);
  }
  return key;
}

function parseKey(obj: Record<string, unknown>, path: string): KeyPair {
  if ('kty' in obj) {
    try {
      return importJwk(obj);
    } catch (err) {
      throw new CliError(`bad key file ${path}: ${(err as Error).message}`);
    }
  }
  if (typeof obj.secretKey !== 'string') throw new CliError(`bad key file ${path}: no "secretKey"`);
  let key: KeyPair;
  try {
    key = importRawKey(fromBase64url(obj.secretKey));
  } catch {
    throw new CliError(`bad key file ${path}: "secretKey" must be 32 bytes of base64url`);
  }
  if (obj.did !== undefined && obj.did !== key.did) throw new CliError(`bad key file ${path}: "did" does not match "secretKey"`);
  if (obj.publicKey !== undefined && obj.publicKey !== toBase64url(key.publicKey)) {
    throw new CliError(`bad key file ${path}: "publicKey" does not match "secretKey"`);
  }
  return key;
}
