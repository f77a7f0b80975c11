package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the Moments server the demo sends to.
type Target struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// WriteKey is a write (or admin) key for the tracking API.
	WriteKey string
	// Client sends the requests; default a client with a 60 s timeout.
	Client *http.Client
}

// BatchSize is how many messages go in one /v1/batch request; Segment's
// libraries send at most 500 KB per batch, which 500 demo messages stay
// well under.
const BatchSize = 500

// Workers is how many batches are in flight at once, each worker sending
// its accounts' stories one after the other. Ingestion commits concurrent
// requests together; and a batch that changes an account (nearly every
// demo batch: each is cut where the account's lifecycle stage or a key
// role changes) first waits until the ingest stages have acted on the
// batches before it, so that they see each batch with the state it left.
// Batches waiting at the same time share that wait and one commit: with
// many accounts in flight, the history is sent in a few rounds of the
// stages per batch of an account rather than one round per batch. On
// PostgreSQL, where a round costs a round trip per statement, that is most
// of the demo's time: the default company (300 accounts) filled in 16.4–16.8 s
// with 32 in flight, 12.5–13.9 s with 128, 12.0–13.2 s with 256
// (docs/benchmarks.md, stop 16).
const Workers = 128

// sender posts batches to the tracking API.
type sender struct {
	t    Target
	sent atomic.Int64
}

func newSender(t Target) *sender {
	if t.Client == nil {
		// One kept-alive connection per worker: the default keeps two per
		// host and would close and reopen the others at every batch.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = Workers
		t.Client = &http.Client{Timeout: 60 * time.Second, Transport: tr}
	}
	t.URL = strings.TrimRight(t.URL, "/")
	return &sender{t: t}
}

// body encodes one batch, stamped with sentAt now: the server corrects each
// message's time by (sentAt − originalTimestamp), so the historic times are
// kept as they were.
func body(buf []byte, msgs []Message, sentAt time.Time) []byte {
	buf = append(buf[:0], `{"batch":[`...)
	for i := range msgs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = msgs[i].Append(buf)
	}
	buf = append(buf, `],"sentAt":"`...)
	buf = sentAt.UTC().AppendFormat(buf, timeLayout)
	return append(buf, `"}`...)
}

// post sends one batch, retrying what a Segment library retries (network
// errors, 429 and 5xx). Retries are safe: messageIds deduplicate.
func (s *sender) post(ctx context.Context, buf []byte, msgs []Message) ([]byte, error) {
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return buf, ctx.Err()
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			}
		}
		buf = body(buf, msgs, time.Now())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.t.URL+"/v1/batch", bytes.NewReader(buf))
		if err != nil {
			return buf, err
		}
		req.SetBasicAuth(s.t.WriteKey, "")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "moments-demo")
		res, err := s.t.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return buf, ctx.Err()
			}
			last = err
			continue
		}
		answer, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusOK:
			s.sent.Add(int64(len(msgs)))
			return buf, nil
		case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
			last = fmt.Errorf("the tracking API answered %s: %s", res.Status, bytes.TrimSpace(answer))
			continue
		default:
			return buf, fmt.Errorf("the tracking API refused a demo batch (%s): %s", res.Status, bytes.TrimSpace(answer))
		}
	}
	return buf, fmt.Errorf("sending a batch failed five times: %w", last)
}

// sendAll sends the streams concurrently, Workers at a time. Each stream's
// messages are sent in order (the next batch only after the previous was
// acknowledged), so an account's story arrives in the order it happened.
func (s *sender) sendAll(parent context.Context, streams [][]Message) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, stream := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for len(stream) > 0 {
				n := batchLen(stream)
				var err error
				if buf, err = s.post(ctx, buf, stream[:n]); err != nil {
					mu.Lock()
					if first == nil && !errors.Is(err, context.Canceled) {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				stream = stream[n:]
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return parent.Err()
}

// batchLen is how many of the next messages go in one batch: up to
// BatchSize, cut before a message that starts a batch of its own.
func batchLen(stream []Message) int {
	n := min(BatchSize, len(stream))
	for i := 1; i < n; i++ {
		if stream[i].StartsBatch {
			return i
		}
	}
	return n
}
