// Package playbook runs the playbooks of the journey map's moments: one run
// per (account, moment, occurrence), started by the trigger engine through
// LaunchTx inside the transaction that stored the triggering event.
//
// A run's state lives in the store (runs, run_steps, tasks, sends,
// escalations). Each step that becomes due is handed to River, the durable
// job queue on the same database, after its transaction commits (a
// transactional outbox, which works the same on SQLite and PostgreSQL);
// the job's unique key is (run, step, generation), and a job whose
// generation is no longer current does nothing. A step's database effects
// commit in one transaction with its outcome, so they happen exactly once;
// email and webhooks carry identities that are stable across attempts
// (Message-ID, Idempotency-Key), so a repeat after a crash is recognisable.
//
// A claimed step is leased to its worker's process, which renews the lease
// while the step runs; a step whose server died runs again under a new
// generation once its lease ends (lease.go), without waiting for River's
// rescuer.
//
// Step kinds are runners registered by kind (RegisterStep); the built-in
// ones are task, email, webhook, wait, branch and escalate. docs/playbooks.md
// describes the guarantees for an operations lead.
package playbook
