package playbook

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestEmailsPerAccountAreLimited: playbook emails to one account stop at
// EmailsPerAccountPerDay, so a flood of triggered runs (from events anyone
// with the public write key can send) cannot turn Moments into a mailer.
func TestEmailsPerAccountAreLimited(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	mail, hook := startMailServer(t), startHookServer(t)
	live := applyMap(t, st, hook.URL+"/hook")
	clk := newClock()
	cfg := fastConfig()
	cfg.SMTP = mail.config()
	cfg.EmailsPerAccountPerDay = 1
	e := newEngine(t, st, live, clk, cfg)
	seedAccount(t, st, "acme", nil)

	start := func(occurrence string) string {
		id, ok, err := e.Launch(ctx, RunRequest{AccountID: "acme", MomentID: "kickoff", Occurrence: occurrence, MapVersion: 1,
			Trigger: TriggerCSM, ContactID: "sponsor-acme", StartedBy: "csm@vendor.example"})
		require.NoError(t, err)
		require.True(t, ok)
		return id
	}
	first := start("csm:1")
	waitRun(t, st, first, status(store.RunWaiting))
	second := start("csm:2")
	run := waitRun(t, st, second, func(r store.Run) bool { return stepStatuses(r)["2"] == store.StepFailed })
	require.Contains(t, run.Steps[1].Error, "limit of 1 email per account per day")
	require.Len(t, mail.received(), 1, "the second email was not sent")
}

// TestEmailToContactOfAnotherAccountIsRefused: a run's contact must be a
// contact of the run's account.
func TestEmailToContactOfAnotherAccountIsRefused(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	seedAccount(t, st, "acme", nil)
	seedAccount(t, st, "globex", nil)
	sc := &StepContext{Run: store.Run{AccountID: "acme", ContactID: "sponsor-globex"}, e: &Engine{st: st}}
	to, err := sc.recipients(ctx, "contact")
	require.NoError(t, err)
	require.Empty(t, to, "globex's sponsor is not acme's contact")
	sc = &StepContext{Run: store.Run{AccountID: "acme", ContactID: "sponsor-acme"}, e: &Engine{st: st}}
	to, err = sc.recipients(ctx, "contact")
	require.NoError(t, err)
	require.Len(t, to, 1)
	require.True(t, strings.HasPrefix(to[0].Email, "sponsor-acme@"))
}
