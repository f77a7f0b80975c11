package report

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// referenceDrivers is the drivers report as it was computed before the
// traits were read into columns: every account decoded into a map
// (referenceLabels), the behaviours as a sorted list (BehaviourCountsEach),
// and the subjects' maps handed to ComputeDrivers.
func referenceDrivers(ctx context.Context, t *testing.T, st *store.Store, q OutcomeQuery) (Drivers, error) {
	gap, window := DefaultGapDays, DefaultWindowDays
	lb, err := referenceLabels(ctx, st, q.Outcome, q.Now)
	require.NoError(t, err)
	const day = 24 * time.Hour
	gapD, windowD := time.Duration(gap)*day, time.Duration(window)*day
	var windows []store.BehaviourWindow
	for _, r := range lb.Rows {
		if r.Positive {
			windows = append(windows, store.BehaviourWindow{AccountID: r.Account.ID, From: r.At.Add(-gapD - windowD), To: r.At.Add(-gapD)})
		}
	}
	counts, err := st.BehaviourCountsEach(ctx, q.Now.Add(-gapD-windowD), q.Now.Add(-gapD), windows)
	require.NoError(t, err)
	byAccount := map[string]map[string]float64{}
	for _, c := range counts {
		if slices.Contains(excludedBehaviours, c.Name) {
			continue
		}
		m := byAccount[c.AccountID]
		if m == nil {
			m = map[string]float64{}
			byAccount[c.AccountID] = m
		}
		m[c.Name] += float64(c.Count) * 30 / float64(window)
	}
	var subjects []Subject
	for _, r := range lb.Rows {
		s := Subject{AccountID: r.Account.ID, Positive: r.Positive, Traits: r.Account.Traits}
		if len(counts) > 0 {
			s.Behaviours = byAccount[r.Account.ID]
			if s.Behaviours == nil {
				s.Behaviours = map[string]float64{}
			}
		}
		subjects = append(subjects, s)
	}
	exclude := append(outcomeTraits(lb.Outcome), journey.DefaultLifecycleTrait)
	d, err := ComputeDrivers(subjects, DriverOptions{Exclude: exclude})
	d.Outcome, d.Excluded, d.GapDays, d.WindowDays = lb.Outcome, lb.Excluded, gap, window
	return d, err
}

// TestDriversReportEqualsTheMapByMapComputation checks the drivers report,
// which reads each account's traits once into columns and lets the
// outcome see only the traits it names, against the same report computed
// from fully decoded accounts: on a planted base whose accounts carry
// awkward traits (escapes, accents, nested values, numbers written as
// words, nulls, empty strings, a trait only some accounts have), for
// outcomes that read named traits, the whole account, and a trait some
// accounts lack (those are left out and counted).
func TestDriversReportEqualsTheMapByMapComputation(t *testing.T) {
	t.Parallel()
	cfg := planted.DefaultConfig(7)
	cfg.Accounts, cfg.Days = 80, 150
	msgs := plantedWithTraits(cfg, func(n int, tr map[string]any) {
		tr["region"] = []string{"Zürich", `Café "Nord"`, "São\tPaulo", "east\\west"}[n%4]
		tr["employees"] = []any{"120", " 45 ", 300.0, "7.5"}[n%4]
		tr["address"] = map[string]any{"city": "Lyon", "zip": []any{"69", 1.0}}
		tr["flags"] = []any{true, nil}
		tr["sponsor_email"] = nil
		tr["notes"] = ""
		tr["verified"] = n%3 == 0
		tr["score"] = []any{1e21, -0.0, 3.25e-7, 42.0}[n%4]
		if n%5 != 0 {
			tr["tier"] = []string{"gold", "silver"}[n%2] // missing on a fifth of the accounts
		}
	})
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		require.NoError(t, planted.IngestMessages(ctx, st, msgs))
		for _, outcome := range []string{
			"",
			`account.tier == "gold"`,
			`account["tier"] == "gold" && account.lifecycle_stage == "churned"`,
			`has(account.tier) && account.tier == "silver"`,
			`account.?tier.orValue("none") == "gold" || account.employees == "120"`,
			`account.size() > 15 && account.lifecycle_stage == "churned"`,
			`account.address.city == "Lyon" && account.lifecycle_stage == "churned"`,
			`account.name.startsWith("acct") || account.lifecycle_stage == "churned"`,
		} {
			q := OutcomeQuery{Outcome: outcome, Now: cfg.End}
			want, wantErr := referenceDrivers(ctx, t, st, q)
			got, err := DriversReport(ctx, st, q)
			require.Equal(t, wantErr, err, outcome)
			require.Equal(t, want, got, outcome)
			if strings.HasPrefix(outcome, "account.tier") {
				require.Equal(t, cfg.Accounts/5, got.Excluded, "the accounts without a tier are left out and counted")
				require.Equal(t, cfg.Accounts-cfg.Accounts/5, got.Accounts)
			}
			if outcome == "" {
				var signals []string
				for _, d := range got.Drivers {
					signals = append(signals, d.Signal)
				}
				require.Contains(t, signals, "tier = gold")
				require.Contains(t, signals, "employees: upper half", "numbers written as words are ranked")
				require.True(t, slices.ContainsFunc(signals, func(s string) bool { return strings.HasPrefix(s, `region = Café "Nord"`) }), signals)
			}
		}
	})
}

// TestParseTraitsReadsAsEncodingJSON checks parseTraits against
// encoding/json on the texts it reads, and that it declines (leaving them
// to encoding/json) the texts it cannot read exactly alike.
func TestParseTraitsReadsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	read := []string{
		`{}`, ` { } `, `{"a":1,"b":"x","c":true,"d":false,"e":null}`,
		`{"n":-0.5e+3,"m":0,"k":1E2,"z":"Zürich","nested":{"a":[1,{"b":"}"}]},"l":[]}`,
		"{\n\t\"a\" : \"b\" ,\r\n \"a\": 2}",
	}
	for _, s := range read {
		want := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(s), &want), s)
		got := map[string]any{}
		require.True(t, parseTraits(s, func(m traitMember) { got[m.key] = m.value() }), s)
		require.Equal(t, want, got, s)
	}
	declined := []string{
		`{"a":"caf\u00e9"}`, `{"a\"b":1}`, "{\"a\":\"\xff\"}", `{"a":01}`, `{"a":1.}`, `{"a":1e999}`,
		`{"a":1,}`, `{"a":1} x`, `null`, `[1]`, `{"a":tru}`, `{"a":{"b":}}`, `{"a":"x`, "{\"a\":\"\x01\"}",
	}
	for _, s := range declined {
		require.False(t, parseTraits(s, func(traitMember) {}), s)
	}
}
