/**
 * PostgreSQL's command tag for a raw statement node, as the server's
 * CreateCommandTag (src/backend/tcop/utility.c) names it: `SELECT`,
 * `DROP TABLE`, `ALTER SYSTEM`, `TRUNCATE TABLE`, …
 */
import type { Ast } from './ast.js';

const SIMPLE: Record<string, string> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  TruncateStmt: 'TRUNCATE TABLE',
  CopyStmt: 'COPY',
  ExplainStmt: 'EXPLAIN',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  AlterSystemStmt: 'ALTER SYSTEM',
  VariableShowStmt: 'SHOW',
  CreateStmt: 'CREATE TABLE',
  IndexStmt: 'CREATE INDEX',
  ViewStmt: 'CREATE VIEW',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  AlterEventTrigStmt: 'ALTER EVENT TRIGGER',
  RuleStmt: 'CREATE RULE',
  CreateRoleStmt: 'CREATE ROLE',
  AlterRoleStmt: 'ALTER ROLE',
  AlterRoleSetStmt: 'ALTER ROLE',
  DropRoleStmt: 'DROP ROLE',
  AlterDatabaseStmt: 'ALTER DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE',
  CreatedbStmt: 'CREATE DATABASE',
  DropdbStmt: 'DROP DATABASE',
  CreateExtensionStmt: 'CREATE EXTENSION',
  AlterExtensionStmt: 'ALTER EXTENSION',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
  CreatePolicyStmt: 'CREATE POLICY',
  AlterPolicyStmt: 'ALTER POLICY',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  DropTableSpaceStmt: 'DROP TABLESPACE',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  ClusterStmt: 'CLUSTER',
  ReindexStmt: 'REINDEX',
  LockStmt: 'LOCK TABLE',
  NotifyStmt: 'NOTIFY',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  CheckPointStmt: 'CHECKPOINT',
  LoadStmt: 'LOAD',
  CommentStmt: 'COMMENT',
  SecLabelStmt: 'SECURITY LABEL',
  ConstraintsSetStmt: 'SET CONSTRAINTS',
  ReassignOwnedStmt: 'REASSIGN OWNED',
  DropOwnedStmt: 'DROP OWNED',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  CreateCastStmt: 'CREATE CAST',
  CreateConversionStmt: 'CREATE CONVERSION',
  CreateDomainStmt: 'CREATE DOMAIN',
  CreateEnumStmt: 'CREATE TYPE',
  CreateRangeStmt: 'CREATE TYPE',
  CompositeTypeStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE',
  AlterDomainStmt: 'ALTER DOMAIN',
  CreateFdwStmt: 'CREATE FOREIGN DATA WRAPPER',
  CreateForeignServerStmt: 'CREATE SERVER',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE',
  CreateUserMappingStmt: 'CREATE USER MAPPING',
  AlterUserMappingStmt: 'ALTER USER MAPPING',
  DropUserMappingStmt: 'DROP USER MAPPING',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
  CreatePublicationStmt: 'CREATE PUBLICATION',
  AlterPublicationStmt: 'ALTER PUBLICATION',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION',
  AlterSubscriptionStmt: 'ALTER SUBSCRIPTION',
  DropSubscriptionStmt: 'DROP SUBSCRIPTION',
  CreateStatsStmt: 'CREATE STATISTICS',
  AlterStatsStmt: 'ALTER STATISTICS',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  CreateOpFamilyStmt: 'CREATE OPERATOR FAMILY',
  AlterOpFamilyStmt: 'ALTER OPERATOR FAMILY',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateTransformStmt: 'CREATE TRANSFORM',
  CreateAmStmt: 'CREATE ACCESS METHOD',
  AlterFunctionStmt: 'ALTER FUNCTION',
  AlterDefaultPrivilegesStmt: 'ALTER DEFAULT PRIVILEGES',
  AlterTSDictionaryStmt: 'ALTER TEXT SEARCH DICTIONARY',
  AlterTSConfigurationStmt: 'ALTER TEXT SEARCH CONFIGURATION',
  AlterOperatorStmt: 'ALTER OPERATOR',
  AlterTypeStmt: 'ALTER TYPE',
  AlterCollationStmt: 'ALTER COLLATION',
  DeclareCursorStmt: 'DECLARE CURSOR',
  ClosePortalStmt: 'CLOSE CURSOR',
  ReturnStmt: 'SELECT',
  PLAssignStmt: 'SELECT',
};

/** OBJECT_* → the SQL words PostgreSQL's tags use for it. */
export function objectWords(objtype: string | undefined): string {
  const o = String(objtype ?? '').replace(/^OBJECT_/, '');
  const special: Record<string, string> = {
    MATVIEW: 'MATERIALIZED VIEW',
    FOREIGN_TABLE: 'FOREIGN TABLE',
    FDW: 'FOREIGN DATA WRAPPER',
    FOREIGN_SERVER: 'SERVER',
    EVENT_TRIGGER: 'EVENT TRIGGER',
    TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
    TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
    TSPARSER: 'TEXT SEARCH PARSER',
    TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
    OPCLASS: 'OPERATOR CLASS',
    OPFAMILY: 'OPERATOR FAMILY',
    ACCESS_METHOD: 'ACCESS METHOD',
    USER_MAPPING: 'USER MAPPING',
    LARGEOBJECT: 'LARGE OBJECT',
    TABCONSTRAINT: 'TABLE',
    COLUMN: 'TABLE',
    ATTRIBUTE: 'TYPE',
    DOMCONSTRAINT: 'DOMAIN',
    STATISTIC_EXT: 'STATISTICS',
    PUBLICATION_NAMESPACE: 'PUBLICATION',
    PUBLICATION_REL: 'PUBLICATION',
    DEFACL: 'DEFAULT PRIVILEGES',
    DEFAULT: 'DEFAULT',
  };
  return special[o] ?? o.replace(/_/g, ' ');
}

/** The command tag of one raw statement node. */
export function commandTag(type: string, body: Ast): string {
  switch (type) {
    case 'SelectStmt':
      return body.intoClause ? 'SELECT INTO' : 'SELECT';
    case 'CreateTableAsStmt':
      if (body.is_select_into) return 'SELECT INTO';
      return body.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS';
    case 'DropStmt':
      return `DROP ${objectWords(body.removeType)}`;
    case 'AlterTableStmt':
      return `ALTER ${objectWords(body.objtype)}`;
    case 'RenameStmt':
      return `ALTER ${objectWords(body.renameType)}`;
    case 'AlterObjectSchemaStmt':
    case 'AlterOwnerStmt':
    case 'AlterObjectDependsStmt':
      return `ALTER ${objectWords(body.objectType)}`;
    case 'DefineStmt':
      return `CREATE ${objectWords(body.kind)}`;
    case 'CreateFunctionStmt':
      return body.is_procedure ? 'CREATE PROCEDURE' : 'CREATE FUNCTION';
    case 'GrantStmt':
      return body.is_grant ? 'GRANT' : 'REVOKE';
    case 'GrantRoleStmt':
      return body.is_grant ? 'GRANT ROLE' : 'REVOKE ROLE';
    case 'VariableSetStmt':
      return body.kind === 'VAR_RESET' || body.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
    case 'DeallocateStmt':
      return body.isall || !body.name ? 'DEALLOCATE ALL' : 'DEALLOCATE';
    case 'DiscardStmt':
      return `DISCARD ${String(body.target ?? 'DISCARD_ALL').replace(/^DISCARD_/, '')}`;
    case 'FetchStmt':
      return body.ismove ? 'MOVE' : 'FETCH';
    case 'VacuumStmt':
      return body.is_vacuumcmd ? 'VACUUM' : 'ANALYZE';
    case 'TransactionStmt':
      return transactionTag(body.kind);
    default:
      return SIMPLE[type] ?? fallbackTag(type);
  }
}

function transactionTag(kind: string | undefined): string {
  const tags: Record<string, string> = {
    TRANS_STMT_BEGIN: 'BEGIN',
    TRANS_STMT_START: 'START TRANSACTION',
    TRANS_STMT_COMMIT: 'COMMIT',
    TRANS_STMT_ROLLBACK: 'ROLLBACK',
    TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
    TRANS_STMT_RELEASE: 'RELEASE',
    TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
    TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
    TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
    TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
  };
  return tags[kind ?? ''] ?? 'BEGIN';
}

// A node this table does not know yet: its name in words (CreateFooStmt → CREATE FOO).
function fallbackTag(type: string): string {
  return type
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}
