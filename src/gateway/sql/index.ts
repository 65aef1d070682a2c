/** gate's SQL analysis: the one place SQL text is interpreted. */
export { analyzeQuery, clearAnalysisCache, memoKey } from './analyze.js';
export { loadSqlParser, parserReady } from './parser.js';
export {
  decodeClientSql,
  encodingSupported,
  readOptionsProblem,
  readOptionsSupported,
  settingChangeProblem,
} from './read-options.js';
export {
  compileSqlRules,
  evaluateQuery,
  evaluateStatement,
  parseSearchPath,
  statementActions,
  tableMatches,
  tagMatches,
  type CompiledRule,
  type Decision,
  type PreparedLookup,
  type QueryDecision,
  type SessionContext,
  type SqlRules,
  type StatementDecision,
} from './rules.js';
export {
  fieldMasked,
  lineageMasked,
  maskedCopyProblem,
  maskedOutputColumns,
  planMasking,
  type MaskPlan,
  type MaskingRules,
  type ResolvedField,
} from './mask-plan.js';
export { normalizedText } from './normalize.js';
export type * from './types.js';
