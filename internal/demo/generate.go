package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// Progress is told how many messages were acknowledged out of how many,
// several times a second while a company is sent.
type Progress func(sent, total int)

// Result sums up a generated company.
type Result struct {
	Company   *Company
	Histories []*History
	// Messages is how many messages were sent.
	Messages int
	// Elapsed is the time from the first message to the last
	// acknowledgement.
	Elapsed time.Duration
}

// Histories generates every account's history, in parallel and in account
// order.
func (c *Company) Histories() []*History {
	out := make([]*History, len(c.Accounts))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = c.History(c.Accounts[i])
			}
		}()
	}
	for i := range c.Accounts {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// Generate invents the company for cfg and sends its whole history to the
// server at t through the tracking API. progress, when not nil, follows the
// sending.
func Generate(ctx context.Context, cfg Config, t Target, progress Progress) (*Result, error) {
	c, err := NewCompany(cfg)
	if err != nil {
		return nil, err
	}
	hs := c.Histories()
	streams, total := streamsOf(hs)
	s := newSender(t)
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	if progress != nil {
		progress(0, total)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					progress(int(s.sent.Load()), total)
				}
			}
		}()
	}
	err = s.sendAll(ctx, streams)
	close(done)
	wg.Wait()
	if progress != nil {
		progress(int(s.sent.Load()), total)
	}
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	// The history is stored; what it causes (health, moments, runs) follows
	// right behind. The showcase and the reader look at that, so wait for it.
	if err := waitCaughtUp(ctx, t); err != nil {
		return nil, err
	}
	return &Result{Company: c, Histories: hs, Messages: total, Elapsed: elapsed}, nil
}

// waitCaughtUp polls the server's /healthz until its ingest stages have
// acted on every stored event; a server that does not report them counts
// as caught up.
func waitCaughtUp(ctx context.Context, t Target) error {
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/healthz", nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("wait for the server to act on the history: %w", err)
		}
		var hz struct {
			Stages *struct {
				Events int64 `json:"events_behind"`
			} `json:"ingest_stages"`
		}
		err = json.NewDecoder(res.Body).Decode(&hz)
		res.Body.Close()
		if err != nil || hz.Stages == nil || hz.Stages.Events == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the server to act on the history (%d events to go): %w", hz.Stages.Events, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// streamsOf deals the accounts to the workers in turn; each worker sends
// its accounts one after the other, each account's story in the order it
// happened (an account belongs to one worker, whose batches go one after
// the other). An account's batches are cut where its lifecycle stage or a
// key role changes (Message.StartsBatch), so the engine sees each stage
// as it was: whether "User Invited" came during onboarding, for one.
func streamsOf(hs []*History) ([][]Message, int) {
	streams := make([][]Message, Workers)
	total := 0
	for i, h := range hs {
		streams[i%Workers] = append(streams[i%Workers], h.Messages...)
		total += len(h.Messages)
	}
	return streams, total
}
