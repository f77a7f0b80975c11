// Package notify carries out the side effects of playbooks: it sends email
// over SMTP, posts signed webhooks and builds Slack-compatible messages.
//
// Every send is safe to repeat. A playbook step that is retried after a crash
// or a restart sends again, so each message carries an identity chosen by the
// caller and stable across attempts: the Message-ID header of an email and the
// Idempotency-Key header of a webhook. Receivers and operators use it to
// recognise a duplicate.
//
// Errors are written for the CS operations lead who reads them in a run's
// history: they name the server that failed and what it refused, never a
// password or a webhook URL's secret path.
//
// Retries across minutes and hours belong to the durable job queue of the
// playbook engine. This package only retries short blips within the deadline
// of the context it is given, and reports when a receiver asked to be called
// back later (Delivery.RetryAfter).
package notify
