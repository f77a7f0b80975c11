package ingest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

var fastReceived = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// decodeBoth decodes body with and without the fast path.
func decodeBoth(body []byte) (fast, slow Decoded, fastErr, slowErr *Error) {
	fast, fastErr = DecodeBatch(body, fastReceived)
	fastDecode = false
	defer func() { fastDecode = true }()
	slow, slowErr = DecodeBatch(body, fastReceived)
	return fast, slow, fastErr, slowErr
}

// sameDecoding fails t when the two paths disagree on body.
func sameDecoding(t *testing.T, body []byte) {
	t.Helper()
	fast, slow, fastErr, slowErr := decodeBoth(body)
	// A message without a messageId gets a random one on each path.
	for i := range min(len(fast.Messages), len(slow.Messages)) {
		if !strings.Contains(string(body), fast.Messages[i].MessageID) {
			fast.Messages[i].MessageID, slow.Messages[i].MessageID = "", ""
		}
	}
	if !reflect.DeepEqual(fastErr, slowErr) || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("the fast path decodes %q differently:\nfast %+v %v\nslow %+v %v", body, fast, fastErr, slow, slowErr)
	}
}

var fastCases = []string{
	`{"batch":[]}`,
	`{"batch":null}`,
	`{"batch":{}}`,
	`{}`,
	` {"batch":[{"type":"track","userId":"u1","event":"E"}]} `,
	`{"Batch":[{"type":"track","userId":"u1","event":"E"}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"batch":[]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"writeKey":"wk","sentAt":"2026-11-25T14:30:00Z"}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"writeKey":null}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"writeKey":5}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"write\u004bey":"wk"}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"WRITEKEY":"wk"}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"context":null,"integrations":{"x":true}}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}],"context":[1]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","context":{"groupId":"a"}}],"context":{"ip":"1","groupId":"b"}}`,
	`{"batch":[{"TYPE":"track","userId":"u1","event":"E"}]}`,
	`{"batch":[{"type":"track","type":"page","userId":"u1","event":"E"}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"\u00e9v"}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"év"}]}`,
	`{"batch":[{"type":"track","userId":12.5e3,"event":"E","messageId":null}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","messageId":7}]}`,
	`{"batch":[{"type":5,"userId":"u1","event":"E"}]}`,
	`{"batch":[{"type":null,"userId":"u1","event":"E"}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":null,"traits":{"a":1}}]}`,
	`{"batch":[{"type":"identify","userId":"u1","traits":{"a":[1,{"b":null}]}}]}`,
	`{"batch":[{"type":"group","userId":"u1","groupId":"g","traits":{"name":"N"},"timestamp":"2026-11-25T14:30:00Z","sentAt":"2026-11-25T14:31:00Z"}]}`,
	`{"batch":[[1,2],3,"x",null,{"type":"track"}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","unknown":{"deep":[[[]]]}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}]} x`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"},]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E"}]`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"n":01}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"n":-}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"n":1.}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"s":"a\qb"}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"s":"a` + "\t" + `b"}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"s":"\ud800"}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"s":"\u0000"}}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":{"t":tru}}]}`,
	"{\"batch\":[{\"type\":\"track\",\"userId\":\"u\xff\",\"event\":\"E\"}]}",
	"{\"batch\":[{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"E\"}],\"writeKey\":\"k\xff\"}",
	"\u00a0{\"batch\":[]}",
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}]}`,
	`{"batch":[{"type":"track","userId":"u1","event":"E","properties":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}]}`,
}

func TestFastDecodeMatches(t *testing.T) {
	for _, c := range fastCases {
		sameDecoding(t, []byte(c))
	}
	body := benchBatchBody()
	sameDecoding(t, body)
	// Random edits of valid bodies: each path must refuse or accept alike.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,\ .-+eE0123456789abtruefalsn` + "\t\n\x01\xff")
	seeds := append([][]byte{body}, func() (out [][]byte) {
		for _, c := range fastCases {
			out = append(out, []byte(c))
		}
		return out
	}()...)
	for n := 0; n < 20000; n++ {
		b := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for range 1 + rng.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[i] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			}
		}
		sameDecoding(t, b)
	}
}

// FuzzFastDecode compares the fast path with encoding/json on any body.
func FuzzFastDecode(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	f.Add(benchBatchBody())
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecoding(t, body)
	})
}

// benchBatchBody is a batch like BenchmarkDecodeBatch's, in package ingest.
func benchBatchBody() []byte {
	var b strings.Builder
	now := fastReceived.Format(time.RFC3339Nano)
	b.WriteString(`{"sentAt":"` + now + `","context":{"library":{"name":"bench","version":"1"}},"batch":[`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","messageId":"%08d-1b2c","userId":"u%d","event":"Feature Used","timestamp":"%s",`+
			`"properties":{"feature":"reports","duration_ms":%d,"plan":"pro"},"context":{"groupId":"acct-%d","ip":"10.0.0.1"}}`,
			i, i*37, now, i*11, i%10)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestFastDecodeTakesSDKBodies(t *testing.T) {
	body := benchBatchBody()
	var env envelope
	if !validJSON(body) || !decodeEnvelopeFast(body, &env) || len(env.Batch) != 20 {
		t.Fatal("the envelope of an SDK's batch should decode on the fast path")
	}
	for _, raw := range env.Batch {
		var w wire
		if !decodeWireFast(raw, &w) {
			t.Fatalf("message %s should decode on the fast path", raw)
		}
	}
}
