import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The CLI's own small config file: remembers the server `gate login` last used. */
export interface Settings {
  server?: string;
}

export async function readSettings(configDir: string): Promise<Settings> {
  try {
    const data = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
    return typeof data?.server === 'string' ? { server: data.server } : {};
  } catch {
    return {};
  }
}

export async function writeSettings(configDir: string, settings: Settings): Promise<void> {
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  await writeFile(join(configDir, 'config.json'), `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
}
