// Package demo invents a B2B SaaS company, Northwind Analytics, and its
// customers, and sends their history to a Moments server through the
// tracking API, exactly as a Segment source would: accounts (group calls),
// contacts with roles (identify calls), product usage, support tickets,
// survey answers, contracts, renewals and churn (track calls), with their
// historic times.
//
// Nothing is written into tables directly: triggers, playbooks, health and
// reports are computed by the real engine from what arrives, so the demo
// shows the product as a customer would see it.
//
// The customers follow the personas of the seed documents (see Persona):
// happy adopters, slow onboarders who recover after a CSM steps in, the
// "cable company" customer who uses everything and dislikes the vendor, the
// "music service" customer who likes the vendor and forgets to use it, a
// sponsor who leaves, support-heavy accounts that renew, and churners. What
// happened to each account (renewed, churned, expanded) is recorded as
// traits and events, so analyses have something true to find.
//
// Generation is deterministic: the same Config (seed, sizes and end time)
// produces the same messages, byte for byte. Each account draws from its own
// PCG stream seeded from (seed, account number), so accounts can be
// generated in any order or in parallel.
package demo
