import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerCompletion } from './completion.js';
import { registerDev } from './dev.js';
import { registerHelp } from './help.js';
import { registerLogin } from './login.js';
import { registerLogout } from './logout.js';
import { registerServer } from './server.js';
import { registerStatus } from './status.js';
import { registerVersion } from './version.js';
import { registerWhoami } from './whoami.js';

/** Every command, in the order `gate --help` lists them. No directory scanning. */
export const COMMANDS: ((program: Command, ctx: CliContext) => void)[] = [
  registerLogin,
  registerLogout,
  registerWhoami,
  registerStatus,
  registerDev,
  registerServer,
  registerCompletion,
  registerVersion,
  registerHelp,
];
