package ingest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moments-cs/moments/internal/ingest"
)

// benchBatch is the body of BenchmarkIngestBatch (internal/web/tracking):
// 100 track calls with properties, a message context naming the account,
// and an envelope context that every message's is merged with.
func benchBatch() []byte {
	var b strings.Builder
	now := received.Format(time.RFC3339Nano)
	b.WriteString(`{"sentAt":"` + now + `","context":{"library":{"name":"bench","version":"1"}},"batch":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","messageId":"%08d-1b2c-4d5e-8f90-a1b2c3d4e5f6","userId":"u%d","event":"Feature Used","timestamp":"%s",`+
			`"properties":{"feature":"reports","duration_ms":%d,"plan":"pro"},"context":{"groupId":"acct-%d","ip":"10.0.0.1"}}`,
			i, i*37, now, i*11, i%10)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkDecodeBatch measures decoding and validating a /v1/batch body
// of 100 messages; it reports messages per second on one core.
func BenchmarkDecodeBatch(b *testing.B) {
	body := benchBatch()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := ingest.DecodeBatch(body, received)
		if err != nil || len(d.Messages) != 100 {
			b.Fatal(err, len(d.Messages))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}
