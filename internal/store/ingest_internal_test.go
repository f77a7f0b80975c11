package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEventsSharingColumnsAreStoredAsSent: a chunk of events that share
// their write key, type and integrations binds those once
// (ingestSharedEventsSQL); a chunk that does not binds every column. Both
// store every column as sent, in row order (the ids the committer gives).
func TestEventsSharingColumnsAreStoredAsSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{Data: t.TempDir()})
	require.NoError(t, err)
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := func(i int, typ, integ string) Message {
		m := Message{Type: typ, MessageID: "m" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i), AnonymousID: "anon" + strconv.Itoa(i%2),
			GroupID: "acct-" + strconv.Itoa(i%3), Name: "Name " + strconv.Itoa(i), Timestamp: t0.Add(time.Duration(i) * time.Second),
			ReceivedAt: t0, Properties: []byte(`{"i":` + strconv.Itoa(i) + `}`), Context: []byte(`{"c":` + strconv.Itoa(i) + `}`)}
		if integ != "" {
			m.Integrations = []byte(integ)
		}
		return m
	}
	var shared, mixed []Message
	for i := range 7 {
		shared = append(shared, msg(i, "track", `{"All":false}`))
	}
	for i := 7; i < 14; i++ {
		typ, integ := "track", ""
		if i%2 == 0 {
			typ, integ = "page", `{"Mixpanel":true}`
		}
		mixed = append(mixed, msg(i, typ, integ))
	}
	_, err = s.Ingest(ctx, "wk-1", shared)
	require.NoError(t, err)
	_, err = s.Ingest(ctx, "wk-2", mixed)
	require.NoError(t, err)
	rows, err := s.write.QueryContext(ctx, `SELECT id, message_id, write_key_id, type, name, user_id, anonymous_id, account_id,
		timestamp, properties, context, integrations FROM events ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			id, ts                               int64
			mid, wk, typ, name, user, anon, acct string
			props, ctxJSON, integ                string
		)
		require.NoError(t, rows.Scan(&id, &mid, &wk, &typ, &name, &user, &anon, &acct, &ts, &props, &ctxJSON, &integ))
		m := append(shared, mixed...)[i]
		wantKey, wantInteg := "wk-1", string(m.Integrations)
		if i >= 7 {
			wantKey = "wk-2"
		}
		if wantInteg == "" {
			wantInteg = "{}"
		}
		require.Equal(t, int64(i+1), id)
		require.Equal(t, []string{m.MessageID, wantKey, m.Type, m.Name, m.UserID, m.AnonymousID, m.GroupID, string(m.Properties), string(m.Context), wantInteg},
			[]string{mid, wk, typ, name, user, anon, acct, props, ctxJSON, integ}, "event %d", i)
		require.Equal(t, micros(m.Timestamp), ts)
		i++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 14, i)
}
