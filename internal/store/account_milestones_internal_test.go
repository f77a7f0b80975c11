package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEachReachSkipsWhatDoesNotRead: a kept row's entries are read as
// they are written; an entry that is not "<id>:<micros>" is skipped, never
// a panic.
func TestEachReachSkipsWhatDoesNotRead(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want map[string]int64
	}{
		{"", map[string]int64{}},
		{"kickoff:1700000000000000", map[string]int64{"kickoff": 1700000000000000}},
		{"a:1,b:-2,c:30", map[string]int64{"a": 1, "b": -2, "c": 30}},
		{",,a:1,", map[string]int64{"a": 1}},
		{"a:,b:x1,c,d:1:2,e:-,f:1234567890123456789,g:7", map[string]int64{"d:1": 2, "g": 7}},
		{":5", map[string]int64{"": 5}},
	} {
		got := map[string]int64{}
		eachReach([]byte(c.in), func(id []byte, at int64) { got[string(id)] = at })
		require.Equal(t, c.want, got, c.in)
	}
}

// FuzzEachReach: any bytes read without a panic.
func FuzzEachReach(f *testing.F) {
	f.Add([]byte("kickoff:1700000000000000,value:-3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		eachReach(b, func([]byte, int64) {})
	})
}
