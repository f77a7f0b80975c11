package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
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
// concurrent callers, sharing commits.
func BenchmarkIngest(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			s := storetest.Open(b, d)
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
