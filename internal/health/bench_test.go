package health

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// benchAggregate builds the aggregate of an account with the given number
// of active users over the last 60 days, with some surveys, tickets and
// milestones, and returns it with a stream of further events.
func benchAggregate(users int) (*Aggregate, []Event) {
	r := rand.New(rand.NewPCG(1, uint64(users)))
	m := testModel()
	names := append([]string{"Logged In", "Page Viewed", "Settings"}, keyFeatures...)
	event := func(at time.Time) Event {
		switch r.IntN(100) {
		case 0:
			return surveyEvent([]string{vocab.SurveyNPS, vocab.SurveyCSAT, vocab.SurveyCES}[r.IntN(3)], 1+r.IntN(5), fmt.Sprintf("user-%d", r.IntN(users)), "user", at)
		case 1:
			return ticketEvent(vocab.EventTicketOpened, at)
		}
		return track(names[r.IntN(len(names))], fmt.Sprintf("user-%d", r.IntN(users)), at)
	}
	var history []Event
	for i := range 20 * users {
		history = append(history, event(daysAgo(60).Add(time.Duration(i)*60*24*time.Hour/time.Duration(20*users))))
	}
	history = append(history, MilestoneEvent("kickoff", daysAgo(50)), MilestoneEvent("first-report", daysAgo(40)))
	a := Recompute(history, m)
	var stream []Event
	for i := range 10_000 {
		stream = append(stream, event(now.Add(time.Duration(i)*time.Second)))
	}
	return a, stream
}

// BenchmarkApply measures the incremental update as ingestion does it: read
// the stored aggregate, apply a batch of events, write it back. ns/event is
// the cost per event. Every iteration starts from the same stored
// aggregate, so that the figure does not drift as the aggregate fills up.
func BenchmarkApply(b *testing.B) {
	m := testModel()
	for _, users := range []int{50, MaxUsers} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("users=%d/batch=%d", users, batch), func(b *testing.B) {
				a, stream := benchAggregate(users)
				stored, err := a.MarshalJSON()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					var a Aggregate
					if err := a.UnmarshalJSON(stored); err != nil {
						b.Fatal(err)
					}
					for range batch {
						a.Apply(stream[i%len(stream)], m)
						i++
					}
					if _, err := a.MarshalJSON(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/event")
				b.ReportMetric(float64(len(stored)), "bytes/aggregate")
			})
		}
	}
	b.Run("users=50/no-json", func(b *testing.B) {
		a, stream := benchAggregate(50)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a.Apply(stream[i%len(stream)], m)
			i++
		}
	})
}

func BenchmarkScore(b *testing.B) {
	m := testModel()
	for _, users := range []int{50, MaxUsers} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			a, _ := benchAggregate(users)
			acct := AccountInfo{Seats: users, ContractStart: daysAgo(100), PathProgress: 0.5}
			b.ReportAllocs()
			for b.Loop() {
				Score(a, acct, m, now)
			}
		})
	}
}
