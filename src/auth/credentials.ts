import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { identity } from '../api/wire.js';

/**
 * What `gate login` keeps per server: the gate token, the IdP refresh token
 * that renews it, and who it belongs to. Never a target secret.
 */
export const credentials = z.object({
  server: z.string(),
  access_token: z.string(),
  expires_at: z.string(),
  refresh_token: z.string().optional(),
  issuer: z.string().optional(),
  client_id: z.string().optional(),
  user: identity,
});
export type Credentials = z.infer<typeof credentials>;

export interface CredentialStore {
  readonly kind: 'keychain' | 'file';
  /** Where the credentials live, for `gate status` (a path or "OS keychain"). */
  readonly location: string;
  get(server: string): Promise<Credentials | undefined>;
  set(creds: Credentials): Promise<void>;
  delete(server: string): Promise<boolean>;
}

const SERVICE = 'gate';

/**
 * Opens the credential store: the OS keychain (Secret Service pinned on
 * Linux, so a headless box does not half-succeed in the kernel keyring), or a
 * 0600 file in the config dir when no keychain answers, with one warning.
 */
export async function openCredentialStore(options: {
  configDir: string;
  mode: 'keychain' | 'file' | 'auto';
  warn(message: string): void;
}): Promise<CredentialStore> {
  const file = fileStore(options.configDir);
  if (options.mode === 'file') return file;
  const keychain = await probeKeychain();
  if (keychain) return keychain;
  if (options.mode === 'keychain') {
    throw new Error('No OS keychain is reachable (GATE_CREDENTIAL_STORE=keychain). On Linux, start a Secret Service such as gnome-keyring.');
  }
  // Said when something is stored, not by every command that only reads (whoami, grants…).
  return {
    ...file,
    async set(creds) {
      await warnOnce(options.configDir, () =>
        options.warn(`warning: no OS keychain is available; credentials are kept in ${file.location} (mode 0600).`),
      );
      await file.set(creds);
    },
  };
}

/** The fallback warning is said once per config dir, not on every command. */
async function warnOnce(configDir: string, warn: () => void): Promise<void> {
  const marker = join(configDir, '.keychain-fallback-noted');
  try {
    await mkdir(configDir, { recursive: true, mode: 0o700 });
    await writeFile(marker, '', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
  }
  warn();
}

async function probeKeychain(): Promise<CredentialStore | undefined> {
  let mod: typeof import('@napi-rs/keyring');
  try {
    mod = await import('@napi-rs/keyring');
  } catch {
    return undefined;
  }
  const entry = (server: string) =>
    new mod.AsyncEntry(SERVICE, server, process.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined);
  try {
    // A read of an absent entry proves the store answers without writing anything.
    await entry('gate-probe').getPassword(AbortSignal.timeout(3000));
  } catch {
    return undefined;
  }
  return {
    kind: 'keychain',
    location: 'OS keychain',
    async get(server) {
      const text = await entry(server).getPassword();
      return text ? parseCredentials(text) : undefined;
    },
    async set(creds) {
      await entry(creds.server).setPassword(JSON.stringify(creds));
    },
    async delete(server) {
      try {
        return await entry(server).deletePassword();
      } catch {
        return false;
      }
    },
  };
}

function parseCredentials(text: string): Credentials | undefined {
  try {
    const parsed = credentials.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The fallback: `credentials.json` (0600) in a 0700 config dir, keyed by server URL. */
export function fileStore(configDir: string): CredentialStore {
  const path = join(configDir, 'credentials.json');
  async function readAll(): Promise<Record<string, unknown>> {
    try {
      const data = JSON.parse(await readFile(path, 'utf8'));
      return data && typeof data === 'object' ? data : {};
    } catch {
      return {};
    }
  }
  async function writeAll(all: Record<string, unknown>): Promise<void> {
    await mkdir(configDir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  }
  return {
    kind: 'file',
    location: path,
    async get(server) {
      const entry = (await readAll())[server];
      return entry ? parseCredentials(JSON.stringify(entry)) : undefined;
    },
    async set(creds) {
      const all = await readAll();
      all[creds.server] = creds;
      await writeAll(all);
    },
    async delete(server) {
      const all = await readAll();
      if (!(server in all)) return false;
      delete all[server];
      await writeAll(all);
      return true;
    },
  };
}
