package report

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/moments-cs/moments/internal/stats"
)

// TestDaysQuantilesMatchStats checks that the scorecards' medians and
// p90s from one in-place sort of the kept µs are the very figures of
// stats.Quantile over the durations in days, bit for bit: negative delays,
// ties, sub-hour and multi-year durations, and empty lists included.
func TestDaysQuantilesMatchStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const day = int64(24 * 3600 * 1e6)
	for n := range 60 {
		us := make([]int64, n)
		for i := range us {
			switch rng.IntN(4) {
			case 0:
				us[i] = rng.Int64N(3600e6) - 1800e6 // within half an hour either side
			case 1:
				us[i] = rng.Int64N(800*day) - 400*day
			case 2:
				us[i] = int64(rng.IntN(5)) * day // ties
			default:
				us[i] = rng.Int64N(30 * day)
			}
		}
		qs := []float64{0.5, 0.9, 0, 1, 0.25}
		got := daysQuantiles(slices.Clone(us), qs...)
		for i, q := range qs {
			want := stats.Quantile(inDays(us), q)
			if math.IsNaN(want) != math.IsNaN(got[i]) || (!math.IsNaN(want) && want != got[i]) {
				t.Fatalf("n=%d q=%v: daysQuantiles %v, stats.Quantile %v", n, q, got[i], want)
			}
		}
	}
}
