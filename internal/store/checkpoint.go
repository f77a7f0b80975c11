package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
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
// few frames, and then once more on the writing connection itself (copy),
// when the WAL index shows few frames left (a large commit may have landed
// while it waited for the connection): holding SQLite's one writing
// connection, it has no commit land during that last copy, and the next
// write transaction starts the WAL over. That turn costs the writer the
// copy of the commits made during the last concurrent copy and one fsync
// of the database file, once per walRestartFrames of WAL. The WAL file therefore stays near that size
// while the disk keeps up; one that grew meanwhile (a long read holding
// old frames, commits outrunning the copies) is cut back to walSizeLimit
// when it starts over (journal_size_limit, sqliteDSN).
type checkpointer struct {
	db *sql.DB
	// write is the store's writing pool of one connection.
	write *sql.DB
	log   *slog.Logger
	// shm is the WAL index (walIndex).
	shm   string
	every time.Duration
	quit  chan struct{}
	done  chan struct{}
	// restartFrames is walRestartFrames; tests lower it.
	restartFrames atomic.Int64
	// turned is the WAL index after the last turn: until a commit changes
	// it, the WAL is copied whole and another turn would do nothing.
	turned walIndex
	stats  struct {
		turns, heldNanos, maxHeldNanos atomic.Int64
	}
	// times are the store's histograms, which count each turn.
	times *commitTimes
}

const (
	checkpointEvery = 250 * time.Millisecond
	// walRestartFrames is 32 MiB of 4 KiB pages.
	walRestartFrames = 8192
	// walTurnFrames bounds the frames that the concurrent copy before a
	// turn may have found (2 MiB), and those the turn copies: a large
	// commit that landed just before it leaves the turn to a later round.
	walTurnFrames = 512
	// walSizeLimit is the size a WAL file is cut back to when it starts
	// over (SQLite's journal_size_limit).
	walSizeLimit = 128 << 20
)

// startCheckpointer starts copying the WAL of the database at path every
// checkpointEvery (every, for tests).
func startCheckpointer(path string, write *sql.DB, log *slog.Logger, every time.Duration, times *commitTimes) (*checkpointer, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, write: write, log: log, shm: path + "-shm", every: every, quit: make(chan struct{}), done: make(chan struct{}),
		times: times}
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
	if frames < int(c.restartFrames.Load()) || copied != frames {
		return
	}
	if idx, ok := c.walIndex(); ok && idx == c.turned {
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
	if idx, ok := c.walIndex(); !ok || idx.frames-idx.copied > walTurnFrames {
		return // a large commit landed meanwhile: a later round
	}
	started := time.Now()
	c.checkpoint(ctx, conn, "PASSIVE")
	held := int64(time.Since(started))
	c.times.heldFor(HeldByCheckpoint, time.Duration(held))
	c.turned, _ = c.walIndex()
	c.stats.turns.Add(1)
	c.stats.heldNanos.Add(held)
	if held > c.stats.maxHeldNanos.Load() {
		c.stats.maxHeldNanos.Store(held)
	}
}

// walIndex is what the checkpointer reads of SQLite's WAL index: the
// frames in the WAL, how many of them the database file holds, and the
// salt that changes whenever the WAL starts over.
type walIndex struct{ frames, copied, salt uint32 }

// walIndex reads the WAL index (the -shm file, laid out as SQLite's
// walformat.html documents: the header's mxFrame and first salt, the
// checkpoint's nBackfill, in the machine's byte order). ok is false when
// it cannot tell.
func (c *checkpointer) walIndex() (idx walIndex, ok bool) {
	f, err := os.Open(c.shm)
	if err != nil {
		return idx, false
	}
	defer f.Close()
	var b [100]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return idx, false
	}
	idx = walIndex{frames: binary.NativeEndian.Uint32(b[16:20]), salt: binary.NativeEndian.Uint32(b[32:36]),
		copied: binary.NativeEndian.Uint32(b[96:100])}
	return idx, idx.copied <= idx.frames
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
