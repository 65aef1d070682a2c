import { registerDecision } from './approve.js';

/** `gate revoke ID` */
export const registerRevoke = registerDecision('revoke');
