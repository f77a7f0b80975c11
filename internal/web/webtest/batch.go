package webtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// BatchBody is a realistic /v1/batch body: 100 track calls from users of
// random accounts (ten users each of acct-0 … acct-<accounts-1>), each with
// a random UUIDv4 messageId as Segment SDKs send, for the ingestion
// benchmarks.
func BatchBody(accounts int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"sentAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","context":{"library":{"name":"bench","version":"1"}},"batch":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		u := rand.IntN(accounts * 10)
		fmt.Fprintf(&buf, `{"type":"track","messageId":"%s","userId":"u%d","event":"Feature Used","timestamp":"%s",`+
			`"properties":{"feature":"reports","duration_ms":%d,"plan":"pro"},"context":{"groupId":"acct-%d","ip":"10.0.0.1"}}`,
			uuid.NewString(), u, time.Now().UTC().Format(time.RFC3339Nano), rand.IntN(5000), u%accounts)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// FreshMessageIDs is a copy of a batch body with new messageIds (the first
// eight characters of each replaced by a fresh random string, the same in
// the whole body): a benchmark sending the same bodies over and over would
// otherwise measure the dedupe of duplicates.
func FreshMessageIDs(body []byte) []byte {
	body = bytes.Clone(body)
	fresh := []byte(uuid.NewString()[:8])
	for j := 0; ; {
		k := bytes.Index(body[j:], []byte(`"messageId":"`))
		if k < 0 {
			return body
		}
		j += k + len(`"messageId":"`)
		copy(body[j:], fresh)
	}
}
