import { registerDecision } from './approve.js';

/** `gate cancel ID` */
export const registerCancel = registerDecision('cancel');
