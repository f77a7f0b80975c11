package tracker

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The hand-written recent-scores list must read and write exactly what
// encoding/json did before it, so that stored lists stay byte-identical.
func TestRecentListMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var list [][2]float64
		for range r.IntN(16) {
			list = append(list, [2]float64{float64(20000 + r.IntN(100)), math.Round(r.Float64()*10000) / 100})
		}
		want, err := json.Marshal(list)
		require.NoError(t, err)
		if list == nil {
			want = []byte("[]")
		}
		require.Equal(t, string(want), string(appendRecent(nil, list)))
		got, ok := parseRecent(want)
		require.True(t, ok)
		require.Equal(t, len(list), len(got))
		for i := range list {
			require.Equal(t, list[i], got[i])
		}
	}
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"", true}, {"[]", true}, {"[[1,2]]", true}, {"[[1,2],[3,4.5]]", true},
		{"[[1,2]", false}, {"[1,2]", false}, {"[[1 ,2]]", false}, {"[[1,2],]", false}, {"{}", false}, {"[[1,2][3,4]]", false},
	} {
		_, ok := parseRecent([]byte(tc.raw))
		require.Equal(t, tc.ok, ok, tc.raw)
	}
	// Unreadable history only loses the baseline.
	out, base := trackRecent([]byte("garbage"), nil, time.Unix(86400*20010, 0))
	require.Equal(t, "[]", string(out))
	require.Nil(t, base)
	require.Equal(t, "[[1e+21,1]]", string(appendRecent(nil, [][2]float64{{1e21, 1}})))
}
