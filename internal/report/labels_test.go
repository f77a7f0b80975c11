package report

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// refLabels are the labels as they were computed before the outcome
// reports read the traits once (labelDrivers): every account decoded into
// a map, the outcome evaluated on all its traits, and each positive's
// group calls replayed with all their traits.
type refLabels struct {
	Outcome  string
	Rows     []refLabelled
	Excluded int
}

type refLabelled struct {
	Account  store.Account
	Positive bool
	At       time.Time
}

func referenceLabels(ctx context.Context, st *store.Store, expr string, now time.Time) (refLabels, error) {
	if expr == "" {
		expr = DefaultOutcome
	}
	lb := refLabels{Outcome: expr}
	prg, err := rules.Compile(expr)
	if err != nil {
		return lb, &OutcomeError{Field: "outcome", Err: err}
	}
	eval := func(traits map[string]any) (bool, error) {
		return prg.Eval(ctx, rules.Vars{Account: traits, Now: now})
	}
	var positives []string
	index := map[string]int{}
	err = st.AllAccounts(ctx, func(a store.Account) error {
		m := map[string]any{}
		for k, v := range a.Traits {
			m[k] = v
		}
		m["id"], m["name"] = a.ID, a.Name
		ok, err := eval(m)
		if err != nil {
			lb.Excluded++
			return nil
		}
		index[a.ID] = len(lb.Rows)
		lb.Rows = append(lb.Rows, refLabelled{Account: a, Positive: ok, At: now})
		if ok {
			positives = append(positives, a.ID)
		}
		return nil
	})
	if err != nil {
		return lb, err
	}
	found, err := replayFirstHeld(ctx, st, positives, nil, func(tr map[string]any) bool {
		ok, err := eval(tr)
		return err == nil && ok
	}, func(id string, at time.Time) { lb.Rows[index[id]].At = at })
	if err != nil {
		return lb, err
	}
	for _, id := range positives {
		if !found[id] {
			lb.Rows[index[id]].At = lb.Rows[index[id]].Account.UpdatedAt
		}
	}
	return lb, nil
}

// TestLabelOutcomesEqualsTheMapByMapLabelling checks the labels the
// backtest and calibration use (LabelOutcomes, the drivers report's
// labelling without its trait columns) against the labelling from fully
// decoded accounts: which accounts are positive, when each outcome first
// held, and how many are left out, for outcomes that read named traits,
// the whole account, a nested value and a trait some accounts lack.
func TestLabelOutcomesEqualsTheMapByMapLabelling(t *testing.T) {
	t.Parallel()
	checkLabelsAgainstReference(t, []string{
		"",
		`account.tier == "gold"`,
		`account.tier == "gold" && account.lifecycle_stage == "churned"`,
		`account.size() > 10 && account.lifecycle_stage == "churned"`,
		`account.address.city == "Lyon" || account.lifecycle_stage == "churned"`,
	})
}

// TestLabelOutcomesInSmallReplayBatches replays the positives a few at a
// time beside the labelling (many batches, as at 100,000 accounts) and
// finds the same labels. Not parallel: it sets the batch size every
// labelling reads.
func TestLabelOutcomesInSmallReplayBatches(t *testing.T) {
	defer func(n int) { heldBatch = n }(heldBatch)
	heldBatch = 3
	checkLabelsAgainstReference(t, []string{"", `account.tier == "gold"`})
}

// checkLabelsAgainstReference labels a planted base with awkward traits
// for each outcome and compares with the map-by-map labelling.
func checkLabelsAgainstReference(t *testing.T, outcomes []string) {
	t.Helper()
	cfg := planted.DefaultConfig(5)
	cfg.Accounts, cfg.Days = 60, 120
	msgs := plantedWithTraits(cfg, func(n int, tr map[string]any) {
		tr["address"] = map[string]any{"city": []string{"Lyon", "Zürich"}[n%2]}
		tr["note"] = `say "hi"\n`
		if n%4 != 0 {
			tr["tier"] = []string{"gold", "silver"}[n%2] // missing on a quarter of the accounts
		}
	})
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		require.NoError(t, planted.IngestMessages(ctx, st, msgs))
		for _, outcome := range outcomes {
			want, err := referenceLabels(ctx, st, outcome, cfg.End)
			require.NoError(t, err)
			got, err := LabelOutcomes(ctx, st, outcome, cfg.End)
			require.NoError(t, err)
			require.Equal(t, want.Outcome, got.Outcome)
			require.Equal(t, want.Excluded, got.Excluded, outcome)
			require.Len(t, got.Rows, len(want.Rows), outcome)
			positives := 0
			for i, w := range want.Rows {
				g := got.Rows[i]
				require.Equal(t, w.Account.ID, g.AccountID, outcome)
				require.Equal(t, w.Positive, g.Positive, "%s: %s", outcome, g.AccountID)
				require.True(t, w.At.Equal(g.At), "%s: %s at %s, want %s", outcome, g.AccountID, g.At, w.At)
				if g.Positive {
					positives++
				}
			}
			require.Positive(t, positives, outcome)
			if outcome == `account.tier == "gold"` {
				require.Equal(t, cfg.Accounts/4, got.Excluded, "the accounts without a tier are left out and counted")
			}
		}
	})
}

// plantedWithTraits is the planted base of cfg as messages, with add
// called on the traits of each account's first group call (n counts the
// accounts from 1): awkward traits for the tests that check a fast path
// against the map-by-map computation.
func plantedWithTraits(cfg planted.Config, add func(n int, traits map[string]any)) []store.Message {
	msgs := planted.Messages(planted.Generate(cfg), cfg.End)
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Type != "group" || seen[m.GroupID] {
			continue
		}
		seen[m.GroupID] = true
		add(len(seen), m.Traits)
	}
	return msgs
}
