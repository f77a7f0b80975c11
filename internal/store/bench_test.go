package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

func benchMessages(n int) []store.Message {
	now := time.Now().UTC()
	msgs := make([]store.Message, n)
	for i := range msgs {
		u := rand.IntN(10000)
		msgs[i] = store.Message{Type: "track", MessageID: uuid.NewString(), UserID: "u" + strconv.Itoa(u),
			GroupID: "acct-" + strconv.Itoa(u%1000), Name: "Feature Used",
			Properties: json.RawMessage(`{"feature":"reports","plan":"pro"}`), Timestamp: now, ReceivedAt: now}
	}
	return msgs
}

// BenchmarkIngest measures the store alone: calls of 100 messages from 16
// concurrent callers, sharing commits. sqlite-normal is SQLite with
// synchronous=NORMAL, to show what FULL (the default) costs.
func BenchmarkIngest(b *testing.B) {
	variants := []string{"sqlite", "sqlite-normal"}
	if len(storetest.Dialects()) > 1 {
		variants = append(variants, "postgres")
	}
	for _, v := range variants {
		b.Run(v, func(b *testing.B) {
			cfg := storetest.Config(b, store.Dialect(strings.TrimSuffix(v, "-normal")))
			if strings.HasSuffix(v, "-normal") {
				cfg.Synchronous = "NORMAL"
			}
			s, err := store.Open(context.Background(), cfg)
			require.NoError(b, err)
			b.Cleanup(func() { s.Close() })
			ctx := context.Background()
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, err := s.Ingest(ctx, "wk", benchMessages(100))
					require.NoError(b, err)
				}
			})
			b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkIngestLag measures what /healthz and each /metrics scrape pay
// to measure the stages' lag, with MOMENTS_BENCH_BEHIND events behind
// (default 1,000,000; stored beforehand, no stage running).
func BenchmarkIngestLag(b *testing.B) {
	behind := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_BEHIND")); err == nil && v > 0 {
		behind = v
	}
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			if b.N == 1 {
				return // the harness's probe run: skip the expensive load
			}
			s := storetest.Open(b, d)
			ctx := context.Background()
			for done := 0; done < behind; done += 5000 {
				_, err := s.Ingest(ctx, "wk", benchMessages(min(5000, behind-done)))
				require.NoError(b, err)
			}
			b.ResetTimer()
			var lag store.IngestLag
			for range b.N {
				var err error
				lag, err = s.IngestLag(ctx)
				require.NoError(b, err)
			}
			b.StopTimer()
			require.Equal(b, int64(behind), lag.Events)
			b.ReportMetric(float64(lag.Events), "events-behind")
		})
	}
}
