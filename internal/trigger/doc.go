// Package trigger detects the moments of truth of the live journey map as
// they happen and starts a run of each moment's playbook, exactly once per
// occurrence.
//
// The five trigger categories are detected in three places:
//
//   - On ingestion (OnIngest, an ingest hook that runs inside the ingestion
//     transaction): lifecycle triggers (an event, or an account trait
//     entering or leaving a value), customer_event triggers (an event, or
//     the signals sponsor_change, low_nps and quadrant_drop) and personal
//     rules a CSM attached to one account. Only the moments that listen to
//     an event's name, to a trait the event carries, or to a signal it can
//     raise are evaluated: the compiled map holds an index from names to
//     listeners, never a list to scan.
//   - On a schedule (Tick, every TickEvery between Start and Stop): scheduled triggers relative to a date trait or
//     on a calendar rule, the usage_drop signal, and broadcasts a stopped
//     process left unfinished. Each scheduled rule keeps a durable
//     watermark; a tick handles the due dates in (watermark, now], so a
//     missed day is caught up once.
//   - By hand (StartMoment, Broadcast): the csm and vendor categories.
//
// Every start goes through the playbook engine's LaunchTx with an
// occurrence key (account, moment, occurrence) that the engine keeps
// unique: the same occurrence never starts two runs, whatever the retries,
// restarts or server processes.
package trigger
