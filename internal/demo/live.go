package demo

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// LiveOptions tune the live trickle.
type LiveOptions struct {
	// Every is the pause between two messages on average; default 300 ms
	// (about three events a second).
	Every time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sent, when set, is called after each acknowledged batch.
	Sent func(n int)
}

// Live keeps the company alive until ctx ends: the customers who are still
// customers go on logging in, building reports, opening tickets and
// answering surveys, now, in the manner of their persona, a few events a
// second. Unlike the history it is not reproducible (the point is that the
// cockpit changes while you watch).
func Live(ctx context.Context, hs []*History, t Target, o LiveOptions) error {
	if o.Every <= 0 {
		o.Every = 300 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var live []*History
	for _, h := range hs {
		if h.Churned.IsZero() && len(h.Contacts) > 0 {
			live = append(live, h)
		}
	}
	if len(live) == 0 {
		<-ctx.Done()
		return nil
	}
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	rng := mrand(seed)
	s := newSender(t)
	var buf []byte
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		msgs := liveMessages(rng, live, o.Now().UTC())
		var err error
		if buf, err = s.post(ctx, buf, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if o.Sent != nil {
			o.Sent(len(msgs))
		}
	}
}

func mrand(seed [16]byte) *rand.Rand {
	var a, b uint64
	for i := range 8 {
		a = a<<8 | uint64(seed[i])
		b = b<<8 | uint64(seed[8+i])
	}
	return rand.New(rand.NewPCG(a, b))
}

// liveMessages is one moment of activity at one account: mostly product
// use by someone who uses it, sometimes a ticket or a survey answer, in
// the persona's manner.
func liveMessages(rng *rand.Rand, live []*History, now time.Time) []Message {
	h := pickWeighted(rng, live)
	a := h.Account
	c := pickContact(rng, h.Contacts)
	id := func() string {
		var b [12]byte
		_, _ = crand.Read(b[:])
		return "live-" + hex.EncodeToString(b[:])
	}
	track := func(event string, props ...Field) Message {
		return Message{Type: "track", ID: id(), At: now, UserID: c.ID, GroupID: a.ID, Event: event, Fields: props}
	}
	prof := ticketProfiles[a.Persona]
	switch r := rng.Float64(); {
	case r < 0.04*prof.perMonth:
		ticket := "live-" + id()[5:13]
		out := []Message{track(vocab.EventTicketOpened, Field{"ticket_id", ticket}, Field{"category", pick(rng, ticketCategories)}, Field{"priority", "high"})}
		if chance(rng, prof.escalate*2) {
			out = append(out, track(vocab.EventTicketEscalated, Field{"ticket_id", ticket}, Field{"priority", "urgent"}))
		}
		return out
	case r < 0.04*prof.perMonth+0.03:
		return []Message{track(vocab.EventSurveyResponded, Field{"kind", "nps"}, Field{"score", liveNPS(rng, a)}, Field{"survey", "relationship_nps"})}
	}
	out := []Message{track(EventLogin, Field{"method", pickLogin(rng, a)})}
	w := featureWeights[a.Persona]
	for range rng.IntN(3) {
		r := rng.Float64() * (w[0] + w[1] + w[2] + w[3])
		switch {
		case r < w[0]:
			out = append(out, track(EventReportCreated, Field{"report_id", "r" + id()[5:10]}, Field{"template", pick(rng, reportTemplates)}))
		case r < w[0]+w[1]:
			out = append(out, track(EventDashboardShared, Field{"dashboard_id", "d" + id()[5:9]}, Field{"shared_with", intBetween(rng, 1, 12)}))
		case r < w[0]+w[1]+w[2]:
			out = append(out, track(EventExportRun, Field{"format", pick(rng, []string{"csv", "xlsx", "pdf"})}, Field{"scheduled", false}))
		default:
			out = append(out, track(EventFeatureUsed, Field{"feature", pick(rng, features)}))
		}
	}
	return out
}

// pickWeighted picks an account, the engaged ones more often.
func pickWeighted(rng *rand.Rand, hs []*History) *History {
	for {
		h := hs[rng.IntN(len(hs))]
		if rng.Float64() < h.Account.Base {
			return h
		}
	}
}

func pickContact(rng *rand.Rand, cs []*Contact) *Contact {
	var total float64
	for _, c := range cs {
		total += c.Propensity
	}
	r := rng.Float64() * total
	for _, c := range cs {
		if r -= c.Propensity; r < 0 {
			return c
		}
	}
	return cs[len(cs)-1]
}

// liveNPS is the answer an account's people give today, at the end of
// their story.
func liveNPS(rng *rand.Rand, a *Account) int {
	switch a.Persona {
	case SlowOnboarder:
		return intBetween(rng, 8, 10)
	case SponsorChange:
		if a.SponsorHandled {
			return intBetween(rng, 7, 10)
		}
		return intBetween(rng, 3, 6)
	}
	h := &history{a: a, rng: rng}
	return h.nps(nil, time.Time{})
}
