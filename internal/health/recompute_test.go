package health

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// history is one generated account: its model, traits and events in time
// order.
type history struct {
	model  journey.HealthModel
	acct   AccountInfo
	events []Event
}

// generate makes a random account history. It aims at the corners of
// Apply: ties in time, late and out-of-order events, events that fall out
// of a retention only when later ones arrive, the size bounds, invalid
// survey answers and ignored call types.
func generate(r *rand.Rand) history {
	var h history
	switch r.IntN(5) {
	case 0:
		h.model = journey.HealthModel{}
	case 1:
		h.model = testModel()
	case 2:
		h.model = journey.HealthModel{
			Behavioural: journey.BehaviouralModel{KeyFeatures: keyFeatures[:2], WindowDays: 7},
			UsageDrop:   journey.UsageDropModel{WindowDays: 28},
			Emotional:   journey.EmotionalModel{HalfLifeDays: 30},
		}
	case 3:
		h.model = journey.HealthModel{
			Behavioural: journey.BehaviouralModel{KeyFeatures: keyFeatures, WindowDays: 60},
			UsageDrop:   journey.UsageDropModel{WindowDays: 7},
		}
	default:
		h.model = journey.HealthModel{
			Behavioural: journey.BehaviouralModel{KeyFeatures: keyFeatures[2:], WindowDays: 14},
			Emotional:   journey.EmotionalModel{HalfLifeDays: 10, RoleWeights: map[string]float64{"sponsor": 10}},
		}
	}
	h.acct = AccountInfo{Seats: r.IntN(50), PathProgress: ProgressUnknown}
	if r.IntN(2) == 0 {
		h.acct.PathProgress = r.Float64()
	}
	if r.IntN(2) == 0 {
		h.acct.ContractStart = now.Add(-time.Duration(r.Int64N(200*24)) * time.Hour)
	}

	n, users := r.IntN(300), 1+r.IntN(60)
	spanSeconds := (1 + r.Int64N(400)) * secondsPerDay
	if r.IntN(50) == 0 {
		// Past MaxUsers and every other bound.
		n, users, spanSeconds = 4000, 1500, (5+r.Int64N(20))*secondsPerDay
	}
	names := append([]string{"Logged In", "Page Viewed", "Settings", ""}, keyFeatures...)
	roles := []string{"sponsor", "champion", "admin", "user", "", "Finance"}
	kinds := []string{vocab.SurveyNPS, vocab.SurveyCSAT, vocab.SurveyCES, "NPS", "mood"}
	var last time.Time
	for range n {
		at := now.Add(-time.Duration(r.Int64N(spanSeconds)) * time.Second)
		if !last.IsZero() && r.IntN(10) == 0 {
			at = last // a tie in time
		}
		last = at
		user := fmt.Sprintf("user-%d", r.IntN(users))
		ev := Event{Type: "track", UserID: user, Timestamp: at}
		switch k := r.IntN(100); {
		case k < 60:
			ev.Name = names[r.IntN(len(names))]
			ev.Type = []string{"track", "track", "page", "screen", "identify"}[r.IntN(5)]
			if r.IntN(20) == 0 {
				ev.UserID = ""
			}
			if r.IntN(20) == 0 {
				ev.Properties = map[string]any{"feature": keyFeatures[r.IntN(len(keyFeatures))]}
			}
		case k < 75:
			ev.Name = vocab.EventSurveyResponded
			ev.ContactRole = roles[r.IntN(len(roles))]
			var score any = r.IntN(13) - 1 // a few out of range
			switch r.IntN(4) {
			case 0:
				score = float64(r.IntN(11))
			case 1:
				score = fmt.Sprint(r.IntN(8))
			}
			ev.Properties = map[string]any{"kind": kinds[r.IntN(len(kinds))], "score": score}
			if r.IntN(3) == 0 {
				ev.Properties["email"] = user + "@example.com"
			}
		case k < 90:
			ev.Name = []string{vocab.EventTicketOpened, vocab.EventTicketEscalated, vocab.EventTicketReopened}[r.IntN(3)]
		case k < 95:
			ev = MilestoneEvent(fmt.Sprintf("milestone-%d", r.IntN(8)), at)
		case k < 98:
			ev = MilestoneEvent(fmt.Sprintf("stray-%d", r.IntN(100)), at)
		default:
			ev.Name = "Logged In"
			ev.Timestamp = time.Time{}
		}
		h.events = append(h.events, ev)
		if ev.Name == vocab.EventSurveyResponded && r.IntN(10) == 0 {
			// The same contact answering twice in one second, with another
			// role or score: only a total order picks one winner.
			twin := ev
			twin.Properties = map[string]any{"kind": ev.Properties["kind"], "score": ev.Properties["score"]}
			if r.IntN(2) == 0 {
				twin.ContactRole = roles[r.IntN(len(roles))]
			} else {
				twin.Properties["score"] = r.IntN(11)
			}
			h.events = append(h.events, twin)
		}
	}
	slices.SortStableFunc(h.events, func(x, y Event) int { return x.Timestamp.Compare(y.Timestamp) })
	return h
}

// arrive returns the events in the order ingestion might see them: mostly in
// time order with some late arrivals, or in no order at all.
func arrive(r *rand.Rand, events []Event) []Event {
	out := slices.Clone(events)
	if r.IntN(5) == 0 {
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	for i := range out {
		if r.IntN(10) == 0 {
			j := min(len(out)-1, i+r.IntN(200))
			ev := out[i]
			copy(out[i:j], out[i+1:j+1])
			out[j] = ev
		}
	}
	return out
}

// TestRecomputeEqualsIncremental checks, on 2,000 generated accounts, that
// applying events batch by batch in arrival order, through a JSON round trip
// per batch as storage does, gives exactly the aggregate and the scores of
// a full recompute over the events in time order.
func TestRecomputeEqualsIncremental(t *testing.T) {
	t.Parallel()
	const accounts, shards = 2000, 4
	for shard := range shards {
		t.Run(fmt.Sprintf("shard %d", shard), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(20260315, uint64(shard)))
			for i := range accounts / shards {
				h := generate(r)
				full := Recompute(h.events, h.model)

				var stored []byte
				events := arrive(r, h.events)
				for len(events) > 0 {
					batch := events[:min(len(events), 1+r.IntN(50))]
					events = events[len(batch):]
					var a Aggregate
					if stored != nil {
						require.NoError(t, a.UnmarshalJSON(stored))
					}
					for _, ev := range batch {
						a.Apply(ev, h.model)
					}
					var err error
					stored, err = a.MarshalJSON()
					require.NoError(t, err)
				}
				var inc Aggregate
				if stored != nil {
					// Through encoding/json this time, which also checks
					// that what MarshalJSON wrote is valid JSON.
					require.NoError(t, json.Unmarshal(stored, &inc))
				}
				want, err := json.Marshal(full)
				require.NoError(t, err)
				if stored != nil {
					require.Equal(t, string(want), string(stored), "account %d/%d", shard, i)
				}
				require.Equal(t, *full, inc, "account %d/%d", shard, i)

				for _, at := range []time.Time{now, now.Add(3 * 24 * time.Hour), now.Add(45 * 24 * time.Hour)} {
					require.Equal(t, Score(full, h.acct, h.model, at), Score(&inc, h.acct, h.model, at), "account %d/%d", shard, i)
					d1, l1, p1 := UsageDrop(full, h.model, at)
					d2, l2, p2 := UsageDrop(&inc, h.model, at)
					require.Equal(t, []any{d1, l1, p1}, []any{d2, l2, p2})
				}
			}
		})
	}
}
