package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// checkpointer copies committed WAL frames into the SQLite database file
// and has the WAL start over, without holding up the committer.
//
// The copy runs every checkpointEvery on a connection of its own, as a
// PASSIVE checkpoint, which never waits for the writer or for readers. But
// SQLite starts the WAL over from its beginning only when a write
// transaction begins while every frame in it has been copied, and under
// steady ingestion a commit always lands while the copy runs: left to
// itself the WAL grew by every commit, hundreds of megabytes, until a
// TRUNCATE checkpoint took the writer's lock for the rest of the copy and
// the truncation, and the committer waited for it for up to seconds
// (docs/benchmarks.md, "stalled acknowledgements").
//
// So once the WAL holds walRestartFrames or more and a copy reached its
// end (no reader holds older frames), the checkpointer copies again,
// concurrently, what was committed during that copy, until a copy found
// few frames, and then once more on the writing connection itself (copy):
// holding SQLite's one writing connection, it has no commit land during
// that last copy, and the next write transaction starts the WAL over. That
// turn costs the writer the copy of the commits made during the last
// concurrent copy and one fsync of the database file, once per
// walRestartFrames of WAL. The WAL file therefore stays near that size
// while the disk keeps up; one that grew meanwhile (a long read holding
// old frames, commits outrunning the copies) is cut back to walSizeLimit
// when it starts over (journal_size_limit, sqliteDSN).
type checkpointer struct {
	db *sql.DB
	// write is the store's writing pool of one connection.
	write *sql.DB
	log   *slog.Logger
	every time.Duration
	quit  chan struct{}
	done  chan struct{}
	// restartFrames is walRestartFrames; tests lower it.
	restartFrames atomic.Int64
	// turnAt is the WAL's frame count at the last turn: until a commit
	// changes it, the WAL is copied whole and another turn would do nothing.
	turnAt int
	stats  struct {
		turns, heldNanos, maxHeldNanos atomic.Int64
	}
}

const (
	checkpointEvery = 250 * time.Millisecond
	// walRestartFrames is 32 MiB of 4 KiB pages.
	walRestartFrames = 8192
	// walTurnFrames bounds the frames that the concurrent copy before a
	// turn may have found (8 MiB): the turn's own copy is about as many.
	walTurnFrames = 2048
	// walSizeLimit is the size a WAL file is cut back to when it starts
	// over (SQLite's journal_size_limit).
	walSizeLimit = 128 << 20
)

// startCheckpointer starts copying the WAL of the database at path every
// checkpointEvery (every, for tests).
func startCheckpointer(path string, write *sql.DB, log *slog.Logger, every time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, write: write, log: log, every: every, quit: make(chan struct{}), done: make(chan struct{})}
	c.restartFrames.Store(walRestartFrames)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open checkpoint connection: %w", err)
	}
	go c.loop()
	return c, nil
}

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			// The writer has stopped: nothing waits for the copy.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			c.checkpoint(ctx, c.db, "TRUNCATE")
			cancel()
			return
		case <-t.C:
			c.copy()
		}
	}
}

// copy copies the WAL into the database file and has it start over once it
// holds restartFrames.
func (c *checkpointer) copy() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	frames, copied := c.checkpoint(ctx, c.db, "PASSIVE")
	if frames < int(c.restartFrames.Load()) || copied != frames || frames == c.turnAt {
		return
	}
	// The commits made during a copy are copied again, concurrently, until
	// a copy found few (walTurnFrames): the commits made during the next
	// one are then few too, and they are what the turn copies with the
	// writer held. When commits outrun the copies (a loaded disk), the
	// turn waits for a later round rather than hold the writer long.
	for pass := 0; ; pass++ {
		before := frames
		if frames, copied = c.checkpoint(ctx, c.db, "PASSIVE"); copied != frames {
			return
		}
		if frames-before <= walTurnFrames {
			break
		}
		if pass == 3 {
			return
		}
	}
	conn, err := c.write.Conn(ctx) // once the transaction in progress ends
	if err != nil {
		c.log.Warn("WAL checkpoint could not take the writing connection; will retry", "err", err)
		return
	}
	defer conn.Close()
	started := time.Now()
	frames, _ = c.checkpoint(ctx, conn, "PASSIVE")
	held := int64(time.Since(started))
	c.turnAt = frames
	c.stats.turns.Add(1)
	c.stats.heldNanos.Add(held)
	if held > c.stats.maxHeldNanos.Load() {
		c.stats.maxHeldNanos.Store(held)
	}
}

// checkpoint runs a checkpoint on db and returns the WAL's frames and how
// many of them the database file now holds.
func (c *checkpointer) checkpoint(ctx context.Context, db Querier, mode string) (frames, copied int) {
	var busy int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		c.log.Warn("WAL checkpoint failed; will retry", "mode", mode, "err", err)
		return 0, -1
	}
	return frames, copied
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	c.db.Close()
}

// CheckpointStats are the checkpointer's turns on the writing connection
// since the store opened (SQLite; zero on PostgreSQL): how many, and how
// long they held it in all and at most.
type CheckpointStats struct {
	Turns         int64
	Held, MaxHeld time.Duration
}

// CheckpointStats returns the checkpointer's counters.
func (s *Store) CheckpointStats() CheckpointStats {
	c := s.checkpointer
	if c == nil {
		return CheckpointStats{}
	}
	return CheckpointStats{Turns: c.stats.turns.Load(), Held: time.Duration(c.stats.heldNanos.Load()),
		MaxHeld: time.Duration(c.stats.maxHeldNanos.Load())}
}
