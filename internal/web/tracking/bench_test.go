package tracking_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// benchPreload is how many events the database holds before measuring
// (MOMENTS_BENCH_PRELOAD, default 200,000): a small database flatters
// ingestion, because the dedupe index fits in a few pages.
func benchPreload() int {
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_PRELOAD")); err == nil {
		return v
	}
	return 200_000
}

const benchAccounts = 1000

func preload(b *testing.B, s *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	const chunk = 5000
	for done := 0; done < n; done += chunk {
		msgs := make([]store.Message, 0, chunk)
		for i := 0; i < chunk && done+i < n; i++ {
			u := rand.IntN(benchAccounts * 10)
			msgs = append(msgs, store.Message{Type: "track", MessageID: uuid.NewString(), UserID: "u" + strconv.Itoa(u),
				GroupID: "acct-" + strconv.Itoa(u%benchAccounts), Name: "Feature Used",
				Properties: []byte(`{"feature":"reports","plan":"pro"}`), Timestamp: now, ReceivedAt: now})
		}
		_, err := s.Ingest(ctx, "preload", msgs)
		require.NoError(b, err)
	}
}

// batchBody is a realistic /v1/batch body: 100 track calls from users of
// random accounts, each with a random UUIDv4 messageId as Segment SDKs send.
func batchBody() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"sentAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","context":{"library":{"name":"bench","version":"1"}},"batch":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		u := rand.IntN(benchAccounts * 10)
		fmt.Fprintf(&buf, `{"type":"track","messageId":"%s","userId":"u%d","event":"Feature Used","timestamp":"%s",`+
			`"properties":{"feature":"reports","duration_ms":%d,"plan":"pro"},"context":{"groupId":"acct-%d","ip":"10.0.0.1"}}`,
			uuid.NewString(), u, time.Now().UTC().Format(time.RFC3339Nano), rand.IntN(5000), u%benchAccounts)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// BenchmarkIngestBatch measures events/s through POST /v1/batch, batches of
// 100, 16 concurrent clients, on each dialect, after preloading the
// database. Run it with a fixed count so the preload happens once:
//
//	go test -run XXX -bench IngestBatch -benchtime 500x ./internal/web/
//
// See docs/benchmarks.md.
func BenchmarkIngestBatch(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			if b.N == 1 {
				// The harness's probe run: skip the expensive preload.
				return
			}
			f := webtest.Setup(b, d)
			preload(b, f.Store, benchPreload())
			bodies := make([][]byte, 256)
			for i := range bodies {
				bodies[i] = batchBody()
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var next atomic.Int64
			b.SetParallelism(8) // 8 × GOMAXPROCS concurrent senders
			stopProfile := profileMeasured(b, string(d))
			defer stopProfile()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					// Fresh messageIds for every request: a benchmark of
					// duplicates would measure nothing.
					i := next.Add(1)
					body := bodies[i%int64(len(bodies))]
					body = bytes.Clone(body)
					fresh := []byte(uuid.NewString()[:8])
					for j := 0; ; {
						k := bytes.Index(body[j:], []byte(`"messageId":"`))
						if k < 0 {
							break
						}
						j += k + len(`"messageId":"`)
						copy(body[j:], fresh)
					}
					req, _ := http.NewRequest("POST", f.URL+"/v1/batch", bytes.NewReader(body))
					req.SetBasicAuth(f.WriteKey, "")
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
			stopProfile()
		})
	}
}

// profileMeasured writes a CPU profile of the measured part alone (not the
// preload, which -cpuprofile would include) to $MOMENTS_BENCH_CPUPROFILE.name
// when that is set; the returned function stops it and may be called twice.
func profileMeasured(b *testing.B, name string) func() {
	path := os.Getenv("MOMENTS_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + name)
	require.NoError(b, err)
	require.NoError(b, pprof.StartCPUProfile(f))
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
}
