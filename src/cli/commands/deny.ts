import { registerDecision } from './approve.js';

/** `gate deny ID` */
export const registerDeny = registerDecision('deny');
