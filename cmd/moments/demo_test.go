package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
)

// syncBuffer is a bytes.Buffer that the demo's goroutines may write while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runDemo runs `moments demo ARGS` in-process until it has printed its
// welcome, then stops it like Ctrl+C and returns what it printed.
func runDemo(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	root := newRoot()
	root.SetArgs(append([]string{"demo", "--addr", "127.0.0.1:0", "--live=false"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl+C") && !strings.Contains(out.String(), "removed when you stop") {
		select {
		case err := <-done:
			t.Fatalf("the demo stopped early: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		case <-deadline:
			t.Fatalf("no welcome after 60 s\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	require.NoError(t, <-done)
	return out.String(), errOut.String()
}

func TestDemoCommand(t *testing.T) {
	t.Parallel()
	out, errOut := runDemo(t, "--accounts", "15", "--months", "2", "--seed", "5")
	require.Contains(t, out, "15 customer accounts, 2 months of history (seed 5)")
	require.Contains(t, out, "Journey map applied: examples/b2b-saas.yaml (version 1)")
	require.Regexp(t, `Sent [\d,]+ events for 15 accounts in [\d.]+ s`, out)
	// Two months imported: every account's past days rebuilt (a day from
	// the day after its first event to today; some accounts sign later).
	require.Regexp(t, `Rebuilt [1-9][\d,]* days of health history for 1[0-5] accounts in [\d.]+ s`, out)
	require.Regexp(t, `Open http://127\.0\.0\.1:\d+`, out)
	require.Regexp(t, `admin \(REST API.*mka_\S+`, out)
	require.Regexp(t, `write \(tracking API.*mkw_\S+`, out)
	require.Contains(t, out, "Three things to try first:")
	for _, n := range []string{"1. ", "2. ", "3. "} {
		require.Contains(t, out, "  "+n)
	}
	require.Contains(t, errOut, "Sending history [")
	require.Contains(t, errOut, "100%")
	// The temporary data directory is gone once the demo stopped.
	m := regexp.MustCompile(`The data is in (\S+) and is removed`).FindStringSubmatch(out)
	require.Len(t, m, 2, out)
	_, err := os.Stat(m[1])
	require.True(t, os.IsNotExist(err), "%s still exists", m[1])
}

func TestDemoCommandKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, _ := runDemo(t, "--accounts", "8", "--months", "1", "--data", dir)
	require.Contains(t, out, "Sent ")
	require.Contains(t, out, "The data is kept in "+dir)
	_, err := os.Stat(dir + "/moments.db")
	require.NoError(t, err)
	// A second start on the same data does not send the history again.
	out, _ = runDemo(t, "--accounts", "8", "--months", "1", "--data", dir)
	require.Contains(t, out, "already holds 8 accounts")
	require.NotContains(t, out, "Sent ")
	require.Regexp(t, `admin \(REST API.*mka_\S+`, out)
	// And a third start, to see that restarts do not pile up keys.
	out, _ = runDemo(t, "--accounts", "8", "--months", "1", "--data", dir)
	require.Contains(t, out, "already holds 8 accounts")
	// And a third start, to see that restarts do not pile up keys.
	out, _ = runDemo(t, "--accounts", "8", "--months", "1", "--data", dir)
	require.Contains(t, out, "already holds 8 accounts")

	// The printed sign-ins work, and they are the only people: the server
	// invented no first admin of its own.
	require.NotContains(t, out, "First start: sign in")
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Data: dir})
	require.NoError(t, err)
	defer st.Close()
	n, err := st.CountUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, len(demoPeople), n)
	_, se, err := auth.NewPeople(st, auth.PeopleConfig{}).SignIn(ctx, "maya.chen@northwind.example", demoPassword, "127.0.0.1", "test")
	require.NoError(t, err)
	require.Equal(t, auth.RoleCSM, se.Role)

	// The history came from Northwind's own servers, with a server key, so
	// the contacts have the email addresses playbooks and surveys write to
	// (a plain write key's email traits are dropped).
	var contacts, withEmail int
	require.NoError(t, st.DB().QueryRowContext(ctx, `SELECT count(*), count(CASE WHEN email <> '' THEN 1 END) FROM contacts`).Scan(&contacts, &withEmail))
	require.Positive(t, contacts)
	require.Equal(t, contacts, withEmail, "every demo contact has an email address")

	// A restart issues new keys (secrets are kept only as hashes, so the
	// first start's cannot be printed again) and revokes those an earlier
	// restart issued: the list does not grow with every restart. The first
	// start's keys keep working for whoever configured them.
	keys, err := st.ListKeys(ctx)
	require.NoError(t, err)
	live := map[string]int{}
	for _, k := range keys {
		if k.RevokedAt == nil {
			live[fmt.Sprintf("%s/%s/server=%t", k.Name, k.Scope, k.Server)]++
		}
	}
	require.Equal(t, map[string]int{
		"first write key/write/server=false":     1,
		"first admin key/admin/server=false":     1,
		"moments demo/write/server=false":        1,
		"moments demo/admin/server=false":        1,
		"moments demo backend/write/server=true": 1,
	}, live)
}

func TestDemoCommandRefusesBadSizes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--accounts", "-3"}, {"--months", "99"}} {
		root := newRoot()
		root.SetArgs(append([]string{"demo", "--addr", "127.0.0.1:0"}, args...))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		err := root.Execute()
		require.ErrorContains(t, err, args[0])
	}
}
