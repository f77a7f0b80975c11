package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// checkpointer copies committed WAL frames into the SQLite database file
// from its own connection, so the committer never pays for it. PASSIVE
// checkpoints never block the writer or readers; when the WAL still grows
// past walLimit (a reader pinning old frames, or ingestion outrunning the
// copy), a TRUNCATE checkpoint waits for a quiet moment and resets it.
type checkpointer struct {
	db   *sql.DB
	wal  string
	log  *slog.Logger
	quit chan struct{}
	done chan struct{}
}

const (
	checkpointEvery = 250 * time.Millisecond
	walLimit        = 512 << 20
)

func startCheckpointer(path string, log *slog.Logger) (*checkpointer, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, wal: path + "-wal", log: log, quit: make(chan struct{}), done: make(chan struct{})}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open checkpoint connection: %w", err)
	}
	go c.loop()
	return c, nil
}

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			c.checkpoint("TRUNCATE")
			return
		case <-t.C:
			mode := "PASSIVE"
			if fi, err := os.Stat(c.wal); err == nil && fi.Size() > walLimit {
				mode = "TRUNCATE"
			}
			c.checkpoint(mode)
		}
	}
}

func (c *checkpointer) checkpoint(mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var busy, logFrames, copied int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &copied); err != nil {
		c.log.Warn("WAL checkpoint failed; will retry", "mode", mode, "err", err)
	}
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	c.db.Close()
}
