package store

import (
	"context"
	"encoding/binary"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCheckpointStartsTheWALOverWhileCommitsNeverPause: with a commit
// always in progress, each copy that finds the WAL past its limit has the
// next transaction start it over. A copy alone never finishes between two
// commits there, and the WAL grew by every commit until a TRUNCATE
// checkpoint stalled the committer for seconds (checkpoint.go).
func TestCheckpointStartsTheWALOverWhileCommitsNeverPause(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Data: t.TempDir()})
	require.NoError(t, err)
	defer s.Close()
	// The test copies by hand: the store's checkpointer is replaced by one
	// whose timer never fires.
	s.checkpointer.stop()
	s.checkpointer, err = startCheckpointer(s.path, s.write, s.log, time.Hour, &s.times)
	require.NoError(t, err)
	c := s.checkpointer
	c.restartFrames.Store(1)

	// The WAL header's checkpoint sequence counts the times it started over.
	restarts := func() uint32 {
		f, err := os.Open(s.path + "-wal")
		require.NoError(t, err)
		defer f.Close()
		var h [32]byte
		_, err = f.ReadAt(h[:], 0)
		require.NoError(t, err)
		return binary.BigEndian.Uint32(h[12:16])
	}
	batch := func(n int) []Message {
		msgs := make([]Message, 50)
		for i := range msgs {
			msgs[i] = Message{Type: "track", MessageID: strconv.Itoa(n) + "-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i),
				GroupID: "a" + strconv.Itoa(i%5), Name: "Feature Used", Timestamp: time.Now(), ReceivedAt: time.Now()}
		}
		return msgs
	}
	var (
		sent    atomic.Int64
		stop    atomic.Bool
		senders sync.WaitGroup
	)
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for !stop.Load() {
				_, err := s.Ingest(ctx, "k", batch(int(sent.Add(1))))
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() {
		stop.Store(true)
		senders.Wait()
	}()
	committed := func(n int64) {
		for sent.Load() < n {
			time.Sleep(time.Millisecond)
		}
	}
	for range 3 {
		committed(sent.Load() + 20)
		before := restarts()
		// A copy that met a transaction just begun on an older read mark
		// stops short and leaves the turn to the next round: copy again.
		turns := c.stats.turns.Load()
		for deadline := time.Now().Add(10 * time.Second); c.stats.turns.Load() == turns && time.Now().Before(deadline); {
			c.copy()
		}
		committed(sent.Load() + 8) // the senders' calls in flight, then some after the copy
		require.Greater(t, restarts(), before, "the WAL started over after the copy")
	}
}
