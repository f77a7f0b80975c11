package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBenjaminiHochberg(t *testing.T) {
	t.Parallel()
	// Sorted: 0.005, 0.01, 0.03, 0.04 with m = 4. Adjusted by hand:
	// 0.04·4/4 = 0.04; min(0.04, 0.03·4/3) = 0.04; min(0.04, 0.01·4/2) = 0.02;
	// min(0.02, 0.005·4) = 0.02.
	p := []float64{0.01, 0.04, 0.03, 0.005, math.NaN()}
	adj, sig := BenjaminiHochberg(p, 0.05)
	for i, want := range []float64{0.02, 0.04, 0.04, 0.02} {
		require.InDelta(t, want, adj[i], 1e-12, "test %d", i)
	}
	require.True(t, math.IsNaN(adj[4]))
	require.Equal(t, []bool{true, true, true, true, false}, sig)

	_, sig = BenjaminiHochberg(p, 0.03)
	require.Equal(t, []bool{true, false, false, true, false}, sig)
}
