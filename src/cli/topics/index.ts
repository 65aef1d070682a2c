import { ENVIRONMENT } from '../../env.js';
import { AGENTS_TOPIC } from './agents.js';

/** `gate help TOPIC` pages. Each is plain text, kept next to the code it documents. */
export const TOPICS: Record<string, { summary: string; text: () => string }> = {
  agents: { summary: 'how scripts and AI agents should drive gate', text: () => AGENTS_TOPIC },
  environment: {
    summary: 'environment variables gate reads',
    text: () => {
      const width = Math.max(...ENVIRONMENT.map(([name]) => name.length));
      return [
        'Environment variables gate reads. Precedence everywhere: flag, environment, config file, default.',
        '',
        ...ENVIRONMENT.map(([name, what]) => `  ${name.padEnd(width)}  ${what}`),
      ].join('\n');
    },
  },
  'exit-codes': {
    summary: 'what each exit code means',
    text: () =>
      [
        'gate exits with:',
        '',
        '  0  success (also "no results")',
        '  1  failure: a usage error, a network problem, a server error',
        '  2  cancelled (Ctrl-C is never 0)',
        '  4  authentication required: run `gate login`',
        '  5  access denied: no policy allows it, or an approver denied it',
        '  8  pending approval: the request waits for an approver (`--no-wait`, or `--timeout` ran out)',
        '',
        '`gate exec`, `gate psql` and `gate kubectl` exit with the wrapped command\'s own code',
        '(128+N when it died of signal N); gate\'s own failures use the codes above.',
        '`gate policy test` exits 0 whenever it evaluated the SQL, also when the decision is deny or',
        'require_approval (read the decision from its output); 1 when it could not (config, target, SQL).',
        '`gate server --check` exits 0 when every check passed without a warning; 1 on any error or warning.',
      ].join('\n'),
  },
};
