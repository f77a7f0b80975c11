package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// FuzzCursors: a cursor from a client, whatever it holds, gets a page or
// ErrBadCursor from every list; never a panic or another error.
func FuzzCursors(f *testing.F) {
	s := storetest.Open(f, store.SQLite)
	ctx := context.Background()
	for _, c := range []string{"", "YWNtZQBhY21l", "MTIzAGlk", "%%%", "123", "-1", "AAAA"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		p := store.Page{Cursor: cursor, Limit: 2}
		check := func(err error) {
			if err != nil {
				require.ErrorIs(t, err, store.ErrBadCursor, "cursor %q", cursor)
			}
		}
		_, _, err := s.ListAccounts(ctx, store.AccountFilter{}, p)
		check(err)
		_, _, err = s.ListEvents(ctx, store.EventFilter{}, p)
		check(err)
		_, _, err = s.ListAudit(ctx, store.AuditFilter{}, p)
		check(err)
	})
}
