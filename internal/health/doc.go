// Package health scores customer health the way the seed documents ask:
// behaviour (how the account uses the product) and emotion (how its people
// feel about it) are measured side by side, never blended away, and shown
// as a quadrant with a play for each: champion, captive, dormant fan, at
// risk, or "behaviour only" when no one has told us how they feel.
//
// The package is pure: no database, no clock. Ingestion keeps one
// Aggregate per account, applies each event to it with Apply in the same
// transaction that stores the event, and stores it back as JSON
// (MarshalJSON, UnmarshalJSON). Score turns an aggregate into a Result at a
// given time: the two scores, the combined score, the quadrant and an
// explanation of every component with the events that moved it. UsageDrop
// and Worse feed the usage_drop and quadrant_drop triggers.
//
// Apply is commutative, so Recompute over an account's stored events, in
// any order, rebuilds exactly the aggregate that incremental updates built:
// a full recompute on a schedule, or after a model change, can replace the
// stored aggregate without a visible jump.
//
// Survey answers are weighted by the contact's role and by age with the
// model's half-life. The decay weighs answers against each other (a recent
// detractor outweighs an old promoter); an account's only answer keeps its
// full value until it is StaleHalfLives half-lives old, and then stops
// counting, so an emotion is either backed by a recent answer or unknown.
// Support tickets, in contrast, take points off a perfect 100, and those
// penalties fade with SupportHalfLifeDays.
package health
