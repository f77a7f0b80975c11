package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/golden"
	"github.com/moments-cs/moments/internal/store"
)

// TestSurveyStats checks the three figures and their 95 % intervals
// against values computed by hand (the arithmetic is in each case's
// comment).
func TestSurveyStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		stat            Stat
		n               int
		value, low, hig float64
		noInterval      bool
	}{
		// 4 promoters, 2 passives, 4 detractors of 10: NPS 0. Adjusted:
		// n' = 13, p' = d' = 5/13; var = 10/13; 1.96 · 100 · √(10/13/13) = 47.7.
		{"nps balanced", NPS([]int{10, 9, 9, 8, 7, 6, 3, 10, 0, 5}), 10, 0, -47.7, 47.7, false},
		// 12 promoters, 5 passives, 3 detractors of 20: NPS 45. Adjusted:
		// n' = 23, p' = 13/23, d' = 4/23, centre 39.1; var = 17/23 − (9/23)² = .5860;
		// 1.96 · 100 · √(.5860/23) = 31.3.
		{"nps twenty", NPS(append(append(rep(10, 6), rep(9, 6)...), append(rep(8, 5), 6, 2, 0)...)), 20, 45, 7.8, 70.4, false},
		// Four promoters: NPS 100, but four answers do not prove it. Adjusted:
		// n' = 7, p' = 5/7, d' = 1/7, centre 57.1 ± 54.0, clamped at 100.
		{"nps all promoters", NPS([]int{10, 9, 10, 9}), 4, 100, 3.2, 100, false},
		{"nps none", NPS(nil), 0, 0, 0, 0, true},
		// 2 of 5 satisfied: 40 %; Wilson: centre (.4 + 1.96²/10)/(1 + 1.96²/5) = .4435,
		// half 1.96 · √(.4·.6/5 + 1.96²/100)/(1 + 1.96²/5) = .3258.
		{"csat five", CSAT([]int{5, 4, 3, 2, 1}), 5, 40, 11.8, 76.9, false},
		// 0 of 1 satisfied: 0 %, Wilson 0 to 79.3 — one answer says little.
		{"csat one", CSAT([]int{1}), 1, 0, 0, 79.3, false},
		// Mean 6, s = 1, t(.975, 4) = 2.776: 6 ± 1.24, clamped to 7.
		{"ces five", CES([]int{7, 6, 5, 7, 5}), 5, 6, 4.76, 7, false},
		{"ces one", CES([]int{4}), 1, 4, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.n, tt.stat.N)
			require.InDelta(t, tt.value, tt.stat.Value, 0.05)
			if tt.noInterval {
				require.Nil(t, tt.stat.Low)
				return
			}
			require.InDelta(t, tt.low, *tt.stat.Low, 0.05)
			require.InDelta(t, tt.hig, *tt.stat.High, 0.05)
		})
	}
}

func rep(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestSurveyReportGolden builds the report from a hand-made quarter of
// answers and compares its text, CSV and JSON with testdata/surveys.*.
func TestSurveyReportGolden(t *testing.T) {
	t.Parallel()
	day := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }
	ptr := func(v int) *int { return &v }
	tp := func(t time.Time) *time.Time { return &t }
	answers := []Answer{
		{EventID: 1, At: day(1, 5, 10), Kind: "nps", Score: 3, Survey: "nps", Moment: "qbr", Stage: "growing", AccountID: "acme", Account: "Acme", Segment: "enterprise", Role: "sponsor", Comment: "Reports are slow"},
		{EventID: 2, At: day(1, 9, 10), Kind: "nps", Score: 9, Survey: "nps", Moment: "qbr", Stage: "growing", AccountID: "globex", Account: "Globex", Segment: "mid-market", Role: "champion"},
		{EventID: 3, At: day(1, 20, 10), Kind: "csat", Score: 5, Survey: "csat_kickoff", Moment: "kickoff", Stage: "delivering", AccountID: "initech", Account: "Initech", Segment: "mid-market", Role: "admin", Comment: "Great start"},
		{EventID: 4, At: day(2, 2, 10), Kind: "csat", Score: 2, Survey: "csat_kickoff", Moment: "kickoff", Stage: "delivering", AccountID: "globex", Account: "Globex", Segment: "mid-market", Role: "user"},
		{EventID: 5, At: day(2, 14, 10), Kind: "nps", Score: 8, Survey: "nps", Moment: "qbr", Stage: "growing", AccountID: "acme", Account: "Acme", Segment: "enterprise", Role: "sponsor"},
		{EventID: 6, At: day(2, 20, 10), Kind: "ces", Score: 6, Survey: "ces_onboarding", Moment: "onboarding", Stage: "delivering", AccountID: "initech", Account: "Initech", Segment: "mid-market", Role: "admin"},
		{EventID: 7, At: day(3, 1, 10), Kind: "ces", Score: 2, Survey: "ces_onboarding", Moment: "onboarding", Stage: "delivering", AccountID: "acme", Account: "Acme", Segment: "enterprise", Role: "admin", Comment: "SSO setup was confusing"},
		{EventID: 8, At: day(3, 3, 10), Kind: "nps", Score: 10, Survey: "nps", Moment: "", Stage: "", AccountID: "hooli", Account: "Hooli", Segment: "", Role: ""},
	}
	sent := func(m string, at time.Time, answeredAfter time.Duration) store.SurveySend {
		x := store.SurveySend{MomentID: m, Status: store.SurveySent, SentAt: tp(at)}
		if answeredAfter > 0 {
			x.Score, x.AnsweredAt = ptr(1), tp(at.Add(answeredAfter))
		}
		return x
	}
	sends := []store.SurveySend{
		sent("qbr", day(1, 5, 8), 2*time.Hour), sent("qbr", day(1, 9, 8), 26*time.Hour), sent("qbr", day(2, 14, 8), 5*time.Hour),
		sent("qbr", day(2, 15, 8), 0), sent("kickoff", day(1, 20, 8), time.Hour), sent("kickoff", day(2, 2, 8), 3*time.Hour),
		{MomentID: "kickoff", Status: store.SurveySkipped, Reason: "fatigue"}, sent("onboarding", day(2, 20, 8), 0),
	}
	rec := map[int64]store.Recovery{
		1: {EventID: 1, RunID: "run-1", MomentID: "detractor_recovery", StartedAt: day(1, 5, 10), FirstTaskDoneAt: tp(day(1, 6, 16))},
		4: {EventID: 4, RunID: "run-4", MomentID: "unhappy_customer", StartedAt: day(2, 2, 10)},
	}
	r := BuildSurveyReport(day(1, 1, 0), day(4, 1, 0), answers, sends, rec)
	var text, csv bytes.Buffer
	require.NoError(t, WriteSurveyText(&text, r))
	require.NoError(t, WriteSurveyCSV(&csv, r))
	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, "testdata/surveys.txt", text.Bytes())
	golden.Assert(t, "testdata/surveys.csv", csv.Bytes())
	golden.Assert(t, "testdata/surveys.json", append(js, '\n'))
}
