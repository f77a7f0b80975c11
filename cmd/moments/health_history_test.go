package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/health/planted"
	"github.com/moments-cs/moments/internal/store"
)

// TestHealthRebuildHistory imports a year of past events and rebuilds the
// daily history from them: one day per account from the day after its
// first event to today, the same again on a second run.
func TestHealthRebuildHistory(t *testing.T) {
	t.Parallel()
	db := dbArgs(t, store.SQLite)
	cfg := planted.DefaultConfig(5)
	cfg.Accounts, cfg.Days = 8, 60
	cfg.End = time.Now().UTC().Truncate(24 * time.Hour)
	accounts := planted.Generate(cfg)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Data: db[1]})
	require.NoError(t, err)
	require.NoError(t, planted.Ingest(ctx, st, accounts, cfg.End))
	require.NoError(t, st.Close())

	today := time.Now().UTC().Unix() / 86400
	var days, active int64
	for _, a := range accounts {
		if len(a.Events) > 0 {
			active++
			days += today - a.Events[0].Timestamp.Unix()/86400
		}
	}
	want := fmt.Sprintf("Rebuilt %d days of health history for %d accounts from ", days, len(accounts))
	res := run(t, "", append([]string{"health", "rebuild-history"}, db...)...)
	require.NoError(t, res.err, res.stderr)
	require.Contains(t, res.stdout, want)
	res = run(t, "", append([]string{"health", "rebuild-history", "--replace"}, db...)...)
	require.NoError(t, res.err, res.stderr)
	require.Contains(t, res.stdout, want, "the same history again")
	require.Positive(t, active)

	res = run(t, "", append([]string{"health", "rebuild-history", "--account", accounts[0].ID}, db...)...)
	require.NoError(t, res.err, res.stderr)
	require.Contains(t, res.stdout, "for 1 accounts")
}
