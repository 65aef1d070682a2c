import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerApprove } from './approve.js';
import { registerApprovals } from './approvals.js';
import { registerAudit } from './audit.js';
import { registerCancel } from './cancel.js';
import { registerComplete } from './complete.js';
import { registerCompletion } from './completion.js';
import { registerConnect } from './connect.js';
import { registerExec, registerKubectl, registerPsql } from './exec.js';
import { registerDeny } from './deny.js';
import { registerGrants } from './grants.js';
import { registerPolicy } from './policy.js';
import { registerRequest } from './request.js';
import { registerRevoke } from './revoke.js';
import { registerTargets } from './targets.js';
import { registerDev } from './dev.js';
import { registerHelp } from './help.js';
import { registerLogin } from './login.js';
import { registerLogout } from './logout.js';
import { registerMcp } from './mcp.js';
import { registerServer } from './server.js';
import { registerSessions } from './sessions.js';
import { registerStatus } from './status.js';
import { registerToken } from './token.js';
import { registerVersion } from './version.js';
import { registerWhoami } from './whoami.js';

/** Every command, in the order `gate --help` lists them. No directory scanning. */
export const COMMANDS: ((program: Command, ctx: CliContext) => void)[] = [
  registerLogin,
  registerLogout,
  registerWhoami,
  registerStatus,
  registerTargets,
  registerRequest,
  registerGrants,
  registerApprovals,
  registerApprove,
  registerDeny,
  registerRevoke,
  registerCancel,
  registerConnect,
  registerPsql,
  registerKubectl,
  registerExec,
  registerMcp,
  registerAudit,
  registerSessions,
  registerPolicy,
  registerDev,
  registerServer,
  registerToken,
  registerCompletion,
  registerComplete,
  registerVersion,
  registerHelp,
];
