/**
 * The configuration `gate dev` runs with when no --config is given: three dev
 * users, the demo database started next to it, and policies that show both an
 * auto-approved and an approval-gated grant. `{{DEMO_*}}` are filled in once the
 * demo database is up.
 */
export const DEV_CONFIG_TEMPLATE = `# gate dev: sample configuration (embedded defaults)
dev:
  users:
    - { username: alice, password: alice, email: alice@example.com, name: Alice Engineer, groups: [engineering] }
    - { username: bob,   password: bob,   email: bob@example.com,   name: Bob DBA,        groups: [dba-oncall] }
    - { username: carol, password: carol, email: carol@example.com, name: Carol Platform, groups: [platform] }

admins: [platform]

targets:
  demo-db:
    type: postgres
    description: Throwaway PostgreSQL started by gate dev, with sample data
    address: {{DEMO_ADDRESS}}
    database: {{DEMO_DATABASE}}
    tls: { mode: disable }
    default_role: read
    roles:
      read:  { username: {{DEMO_READ_USER}},  password: {{DEMO_READ_PASSWORD_REF}} }
      write: { username: {{DEMO_WRITE_USER}}, password: {{DEMO_WRITE_PASSWORD_REF}} }
    # Structured guardrails, in PostgreSQL's own words (see docs/policy.md). pgbench -i drops and
    # truncates its own pgbench_* tables, so those are excepted; everything else is never dropped.
    guardrails:
      - { deny: { statements: [DROP, TRUNCATE], except_tables: ['pgbench_*'] }, message: 'DROP and TRUNCATE are never allowed on demo-db (except pgbench_* tables)' }
      - { deny: { statements: [ALTER SYSTEM] }, message: 'ALTER SYSTEM is never allowed on demo-db' }
      - { require_approval: { statements: [DELETE, UPDATE], unfiltered: true }, message: 'DELETE or UPDATE without a real WHERE needs approval' }
      - { deny: { functions: [pg_terminate_backend, lo_export, lo_import, 'dblink*'] } }
    # DO blocks, CREATE FUNCTION and other SQL gate cannot see into (the default on a guarded target).
    opaque_sql: deny
    masking: { columns: [card_number], detectors: [email, credit_card] }

policies:
  - { name: eng-read,  groups: [engineering, platform], targets: [demo-db], roles: [read],  max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [demo-db], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall], min: 1 } }
`;

/** The embedded dev config with the demo database's address, database, users and password references filled in. */
export function fillDevConfig(values: Record<string, string>): string {
  return DEV_CONFIG_TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`dev config value ${key} missing`);
    return value;
  });
}
