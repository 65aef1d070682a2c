import { z } from 'zod';

/**
 * PostgreSQL guardrails and masking in gate.yaml. A rule is either the
 * original regular expression (matched, case-insensitively, against each
 * statement's text) or a structured match in PostgreSQL's own vocabulary:
 * command tags (prefix, case-insensitive), tables and functions (globs with
 * `*`), and `unfiltered` (no WHERE, or a WHERE that is constant true).
 */

const regexSource = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value, 'i');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(err as Error).message}` });
  }
});

const nonEmptyList = (what: string) =>
  z.array(z.string().min(1, `must not be empty (a ${what})`)).min(1, `must list at least one ${what}`);

const tablePattern = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)?$/, 'must be a table or schema.table (globs with * allowed, e.g. audit.*)');

export const sqlMatch = z
  .strictObject({
    /** Command tags, matched by prefix: `DROP` covers `DROP TABLE`, `ALTER SYSTEM` only that. */
    statements: nonEmptyList('command tag such as DROP or DELETE').optional(),
    /** Tables the statement touches: `name`, `schema.name`, globs (`audit.*`, `pgbench_*`). */
    tables: z.array(tablePattern).min(1, 'must list at least one table').optional(),
    /** Tables a match must not involve (e.g. `pgbench_*` so a tool can drop its own tables). */
    except_tables: z.array(tablePattern).min(1, 'must list at least one table').optional(),
    /** Functions the statement calls, lower-case, globs (`dblink*`). */
    functions: nonEmptyList('function name').optional(),
    /** Only UPDATE/DELETE/MERGE/TRUNCATE without a real WHERE. */
    unfiltered: z.literal(true, { error: 'must be true (leave it out to match filtered statements too)' }).optional(),
  })
  .refine((m) => m.statements || m.tables || m.functions || m.unfiltered, {
    message: 'must name at least one of statements, tables, functions or unfiltered',
  });

type RuleBody = string | SqlMatchConfig;

// A string and a map are told apart before validating, so each gets its own errors (a union reports the wrong branch's).
export type SqlMatchConfig = z.infer<typeof sqlMatch>;

const ruleBody = z.custom<RuleBody>().superRefine((value, ctx) => {
  const r = typeof value === 'string' ? regexSource.safeParse(value) : sqlMatch.safeParse(value);
  for (const issue of r.error?.issues ?? []) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
});

export const sqlGuardrail = z.union([
  z.strictObject({ deny: ruleBody, message: z.string().optional() }),
  z.strictObject({
    require_approval: ruleBody,
    message: z.string().optional(),
    /** How many times one approval may be used for the same statement text (default once). */
    reuse: z.number().int().min(1).optional(),
  }),
]);

/** `column`, `table.column` or `schema.table.column`. */
const maskedColumn = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+){0,2}$/, 'must be column, table.column or schema.table.column');

export const pgMasking = z
  .strictObject({
    columns: z.array(maskedColumn).default([]),
    detectors: z.array(z.enum(['email', 'credit_card'])).default([]),
  })
  .default({ columns: [], detectors: [] });

export const opaqueSql = z.enum(['deny', 'require_approval', 'allow']);

export type SqlGuardrailConfig = z.infer<typeof sqlGuardrail>;
export type PgMaskingConfig = z.infer<typeof pgMasking>;
export type OpaqueSqlSetting = z.infer<typeof opaqueSql>;
