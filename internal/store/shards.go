package store

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Shards of the ingest stages. On PostgreSQL the committed events are
// split into stageShards shards by account: an event belongs to the shard
// of its account, or, while it has none, of its contact (user id) or
// anonymous id; a reattribution (an event that joined an account later)
// belongs to the shard of the account it joined. Each shard has its own
// progress row ('stages/<n>' in ingest_progress), written in the same
// transaction as the effects of its events, so each shard is consumed
// exactly once and in id order; one account's events are all in one shard
// and so stay in order.
//
// The shards are leased (ingest_progress.owner, lease_until) to the
// servers that run the stages: every server announces itself in
// stage_runners and takes its share, the shard count divided by the live
// servers (rounded up), releasing shards beyond its share and taking
// unleased or expired ones below it. A server that dies stops renewing its
// leases and its announcement; within stageLease the others count one
// server fewer and take its shards over. The leases only spread the work:
// a round locks the progress rows of the shards it consumes (FOR UPDATE
// SKIP LOCKED) and reads their progress under the lock, so two servers
// holding the same shard for a moment (a lease expiring while its round
// was slow) still never consume an event twice.
//
// SQLite has one writer and one runner: it keeps the single 'stages' row,
// as if it had one shard that its runner always holds.

const (
	// stageShards is the number of shards on PostgreSQL (migration 00026
	// creates their rows; changing it needs a migration that moves the
	// progress, as the shard of an account depends on it).
	stageShards = 16
	// shardPrefix starts the progress row names of the shards.
	shardPrefix = progressName + "/"
	// stageLease is how long a server's lease on a shard, and its
	// announcement as a live runner, last without renewal: a dead server's
	// shards are taken over within about this long.
	stageLease = 3 * time.Second
	// stageLeaseRenew is how often a runner renews its leases and
	// rebalances its share.
	stageLeaseRenew = 500 * time.Millisecond
)

// stageRowsCond selects the stages' progress rows: 'stages' on SQLite, the
// shards' on PostgreSQL.
const stageRowsCond = "(name = '" + progressName + "' OR name LIKE '" + shardPrefix + "%')"

// stagesFloorSQL is the smallest progress of the stages: every event up to
// it is consumed, whatever its shard.
const stagesFloorSQL = "(SELECT MIN(last_event_id) FROM ingest_progress WHERE " + stageRowsCond + ")"

// stagesCeilSQL is the largest: no event after it is consumed (the fast
// lane's aside).
const stagesCeilSQL = "(SELECT MAX(last_event_id) FROM ingest_progress WHERE " + stageRowsCond + ")"

// shardOfSQL is the progress row name of the shard of key (an SQL text
// expression): the first 28 bits of its MD5, modulo stageShards. MD5, not
// hashtext, so the shard of an account never changes with the server's
// version. stageShardOf computes the same in Go.
func shardOfSQL(key string) string {
	return "('" + shardPrefix + "' || mod(('x' || substr(md5(" + key + "), 1, 7))::bit(28)::int, " + strconv.Itoa(stageShards) + "))"
}

// stageShardOf is shardOfSQL in Go.
func stageShardOf(key string) string {
	sum := md5.Sum([]byte(key))
	v, _ := strconv.ParseUint(hex.EncodeToString(sum[:])[:7], 16, 32)
	return shardPrefix + strconv.FormatUint(v%stageShards, 10)
}

// eventShardSQL is the progress row name of the shard of the event row a
// (an alias of events).
func (d Dialect) eventShardSQL(a string) string {
	if d.embedded() {
		return "'" + progressName + "'"
	}
	return shardOfSQL("COALESCE(NULLIF(" + a + ".account_id, ''), NULLIF(" + a + ".user_id, ''), " + a + ".anonymous_id)")
}

// accountShardSQL is the progress row name of the shard of the account id
// col (an SQL expression).
func (d Dialect) accountShardSQL(col string) string {
	if d.embedded() {
		return "'" + progressName + "'"
	}
	return shardOfSQL(col)
}

// consumedSQL is true for the event row a when the stages have consumed
// it: its id is at most its shard's progress. Most events are below every
// shard's progress, which the first test settles without finding the
// shard.
func (d Dialect) consumedSQL(a string) string {
	if d.embedded() {
		return "(" + a + ".id <= (SELECT last_event_id FROM ingest_progress WHERE name = '" + progressName + "'))"
	}
	return "(" + a + ".id <= " + stagesFloorSQL + " OR (" + a + ".id <= " + stagesCeilSQL +
		" AND " + a + ".id <= (SELECT p.last_event_id FROM ingest_progress p WHERE p.name = " + d.eventShardSQL(a) + ")))"
}

// allShards lists the stages' progress rows.
func (d Dialect) allShards() []string {
	if d.embedded() {
		return []string{progressName}
	}
	out := make([]string, stageShards)
	for i := range out {
		out[i] = shardPrefix + strconv.Itoa(i)
	}
	return out
}

// newRunnerID names a stage runner in stage_runners and the leases.
func newRunnerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dbNowSQL is the database's clock in microseconds: leases compare times
// of one clock, whatever the servers' clocks say.
const dbNowSQL = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"

// held returns the shards this runner consumes: on SQLite the one row, on
// PostgreSQL the shards it leases (renewed when stale).
func (r *stageRunner) held(ctx context.Context) []string {
	if r.s.dialect.embedded() {
		return []string{progressName}
	}
	r.mu.Lock()
	stale := time.Since(r.leasedAt) >= stageLeaseRenew
	held := r.shards
	r.mu.Unlock()
	if !stale {
		return held
	}
	got, err := r.lease(ctx)
	if err != nil {
		r.s.log.Warn("ingest stages could not renew their shards; keeping those held", "err", err)
		return held
	}
	r.mu.Lock()
	r.shards, r.leasedAt = got, time.Now()
	r.mu.Unlock()
	return got
}

// lease announces this runner, renews its leases and takes or releases
// shards to hold its share, and returns the shards it now holds.
func (r *stageRunner) lease(ctx context.Context) ([]string, error) {
	db := r.s.write
	ttl := stageLease.Microseconds()
	if _, err := db.ExecContext(ctx, `INSERT INTO stage_runners (runner, seen_until) VALUES ($1, `+dbNowSQL+` + $2)
		ON CONFLICT (runner) DO UPDATE SET seen_until = excluded.seen_until`, r.id, ttl); err != nil {
		return nil, fmt.Errorf("announce the stage runner: %w", err)
	}
	var live int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM stage_runners WHERE seen_until > "+dbNowSQL).Scan(&live); err != nil {
		return nil, fmt.Errorf("count the stage runners: %w", err)
	}
	share := (stageShards + max(live, 1) - 1) / max(live, 1)
	// Renew what is still ours; a row locked by another server's round is
	// left as it is this time.
	held, err := queryStrings(ctx, r.s.write, `UPDATE ingest_progress SET lease_until = `+dbNowSQL+` + $2 WHERE name IN (
		SELECT name FROM ingest_progress WHERE name LIKE '`+shardPrefix+`%' AND owner = $1 FOR UPDATE SKIP LOCKED) RETURNING name`, r.id, ttl)
	if err != nil {
		return nil, fmt.Errorf("renew the shards' leases: %w", err)
	}
	slices.Sort(held)
	switch {
	case len(held) > share:
		extra := held[share:]
		args := []any{r.id}
		for _, n := range extra {
			args = append(args, n)
		}
		if _, err := db.ExecContext(ctx, "UPDATE ingest_progress SET owner = '', lease_until = 0 WHERE owner = $1 AND name IN ("+
			r.s.dialect.placeholders(2, len(extra))+")", args...); err != nil {
			return nil, fmt.Errorf("release shards: %w", err)
		}
		held = held[:share]
	case len(held) < share:
		got, err := queryStrings(ctx, r.s.write, `UPDATE ingest_progress SET owner = $1, lease_until = `+dbNowSQL+` + $2 WHERE name IN (
			SELECT name FROM ingest_progress WHERE name LIKE '`+shardPrefix+`%' AND lease_until <= `+dbNowSQL+`
			ORDER BY name LIMIT `+strconv.Itoa(share-len(held))+` FOR UPDATE SKIP LOCKED) RETURNING name`, r.id, ttl)
		if err != nil {
			return nil, fmt.Errorf("take shards: %w", err)
		}
		held = append(held, got...)
		slices.Sort(held)
	}
	// Forget runners long gone, now and then.
	if _, err := db.ExecContext(ctx, "DELETE FROM stage_runners WHERE seen_until < "+dbNowSQL+" - $1", 100*ttl); err != nil {
		return nil, fmt.Errorf("forget stage runners: %w", err)
	}
	return held, nil
}

// renewLocked renews this runner's leases on the shards a round locked, as
// the round commits: a round longer than stageLease (a backlog on a busy
// machine) would otherwise find its shards taken by another server as soon
// as it commits. While the round held them no one else could change them.
func (r *stageRunner) renewLocked(ctx context.Context, tx *sql.Tx, prog map[string]int64) error {
	if r.s.dialect.embedded() {
		return nil
	}
	filter, args := r.shardFilter("name", prog, []any{r.id, stageLease.Microseconds()})
	if _, err := tx.ExecContext(ctx, "UPDATE ingest_progress SET lease_until = "+dbNowSQL+" + $2 WHERE owner = $1"+filter, args...); err != nil {
		return fmt.Errorf("renew the shards' leases: %w", err)
	}
	return nil
}

// releaseShards gives up this runner's leases when it stops, so the other
// servers take its shards at once rather than when the leases expire.
func (r *stageRunner) releaseShards() {
	if r.s.dialect.embedded() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.s.write.ExecContext(ctx, "UPDATE ingest_progress SET owner = '', lease_until = 0 WHERE owner = $1", r.id); err != nil {
		r.s.log.Warn("ingest stages could not release their shards; they pass on when the leases expire", "err", err)
	}
	if _, err := r.s.write.ExecContext(ctx, "DELETE FROM stage_runners WHERE runner = $1", r.id); err != nil {
		r.s.log.Warn("ingest stages could not withdraw", "err", err)
	}
}

// StageShards returns the shards this server's stage runner holds now, and
// how many events and reattributions it has handed to the hooks since the
// store was opened.
func (s *Store) StageShards() (held []string, consumed int64) {
	s.stages.mu.Lock()
	defer s.stages.mu.Unlock()
	if s.dialect.embedded() && s.stages.started {
		held = []string{progressName}
	} else {
		held = slices.Clone(s.stages.shards)
	}
	return held, s.stages.consumed
}

// trimCommits deletes the ingestion transactions' marks that every shard
// is past. On PostgreSQL one server at a time does it (an advisory lock
// tried, not waited for), so two never delete the same rows in turn.
func (r *stageRunner) trimCommits(ctx context.Context) error {
	q := "DELETE FROM ingest_commits WHERE last_event_id <= " + stagesFloorSQL
	if !r.s.dialect.embedded() {
		q += " AND (SELECT pg_try_advisory_xact_lock(" + strconv.FormatInt(ingestLockKey+1, 10) + "))"
	}
	if _, err := r.s.write.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("forget consumed ingestion transactions: %w", err)
	}
	return nil
}
