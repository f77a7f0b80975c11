package trigger_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store/storetest"
)

func dateOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// TestScheduledTriggers drives a fake clock through 400 days for 100
// accounts, ticking twice a day except during a two-day outage: every
// renewal step starts once, on its day; the occurrences missed in the
// outage start once, on the first day back; monthly check-ins start once a
// month; a renewed contract schedules its next renewal.
func TestScheduledTriggers(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := setup(t, d, testMap)
			start := time.Date(day0.Year(), day0.Month(), day0.Day(), 0, 0, 0, 0, time.UTC)
			renewal := map[string]time.Time{}
			var msgs []map[string]any
			for i := 0; i < 100; i++ {
				id := fmt.Sprintf("acct-%03d", i)
				segment := "enterprise"
				if i%2 == 1 {
					segment = "mid_market"
				}
				renewal[id] = start.AddDate(0, 0, 130+2*i)
				msgs = append(msgs, group(id, map[string]any{"segment": segment, "renewal_date": dateOf(renewal[id])}))
			}
			e.batch(t, msgs...)
			status, body := e.do(t, "POST", "/api/v1/accounts/acct-001/rules",
				[]byte(`{"moment":"kickoff_call","schedule":{"relative_to":"renewal_date","offset":"-7d"}}`), nil)
			require.Equal(t, http.StatusCreated, status, body)

			outage := map[int]bool{150: true, 151: true}
			for day := 0; day <= 400; day++ {
				if day == 200 {
					// acct-000 renewed on day 130: its next renewal is a year on.
					renewal["acct-000"] = renewal["acct-000"].AddDate(1, 0, 0)
					e.batch(t, group("acct-000", map[string]any{"renewal_date": dateOf(renewal["acct-000"])}))
				}
				if outage[day] {
					continue
				}
				for _, hour := range []int{6, 18} {
					e.clock.Set(start.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour))
					require.NoError(t, e.app.Triggers.Tick(ctx))
				}
			}

			firedOn := func(due time.Time) string {
				day := int(due.Sub(start) / (24 * time.Hour))
				if outage[day] {
					return dateOf(start.AddDate(0, 0, 152))
				}
				return dateOf(due)
			}
			for i := 0; i < 100; i++ {
				id := fmt.Sprintf("acct-%03d", i)
				for _, step := range []struct {
					moment string
					days   int
				}{{"renewal_120", -120}, {"renewal_90", -90}, {"renewal_30", -30}} {
					runs := e.runs(t, id, step.moment)
					renewals := []time.Time{start.AddDate(0, 0, 130+2*i)}
					if !renewal[id].Equal(renewals[0]) {
						renewals = append(renewals, renewal[id])
					}
					var want []string
					for _, r := range renewals {
						due := r.AddDate(0, 0, step.days)
						if (step.moment == "renewal_120" && i%2 == 1) || due.After(start.AddDate(0, 0, 400)) {
							continue
						}
						want = append(want, firedOn(due))
					}
					var got []string
					for _, r := range runs {
						got = append(got, dateOf(r.CreatedAt))
						require.Equal(t, "scheduled", r.Category)
					}
					sort.Strings(got)
					require.Equal(t, want, got, "%s %s: occurrences %v", id, step.moment, occurrences(runs))
				}
				checkins := e.runs(t, id, "monthly_checkin")
				if i%2 == 0 {
					require.Empty(t, checkins, id)
					continue
				}
				require.Len(t, checkins, 13, "%s: February 2026 to February 2027", id)
				for _, r := range checkins {
					on := dateOf(r.CreatedAt)
					if r.Occurrence == "monthly:2026-06-01" {
						require.Equal(t, "2026-06-02", on, "June 1st fell in the outage")
						continue
					}
					require.Equal(t, "monthly:"+on, r.Occurrence)
				}
			}
			personal := e.runs(t, "acct-001", "kickoff_call")
			require.Len(t, personal, 1)
			require.Equal(t, dateOf(start.AddDate(0, 0, 132-7)), dateOf(personal[0].CreatedAt))
			require.Contains(t, personal[0].Occurrence, ":renewal_date-7d:")
		})
	}
}
