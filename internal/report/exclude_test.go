package report_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/ingest"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestDriversLeaveOutTheMapsExcludedTraits: a persona column that restates
// the outcome tops the drivers report until the map (here the example map
// the demo applies) names it in health.drivers.exclude_traits.
func TestDriversLeaveOutTheMapsExcludedTraits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,name,contract,persona,churned\n")
	for i := range 120 {
		contract, churned, persona := "Annual", "no", "adopter"
		if i%3 == 0 {
			contract = "Month-to-month"
		}
		if (contract == "Month-to-month" && i%4 != 0) || (contract == "Annual" && i%8 == 1) {
			churned, persona = "yes", "churner"
		}
		if i%10 == 0 { // an answer key that is nearly, not exactly, right
			persona = map[string]string{"adopter": "churner", "churner": "adopter"}[persona]
		}
		fmt.Fprintf(&b, "c%03d,Customer %d,%s,%s,%s\n", i, i, contract, persona, churned)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	msgs, bad, err := ingest.AccountsCSV(strings.NewReader(b.String()), now)
	require.NoError(t, err)
	require.Empty(t, bad)
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	_, err = st.Ingest(ctx, "import", msgs)
	require.NoError(t, err)
	q := report.OutcomeQuery{Outcome: `account.churned == "yes"`, Now: now.Add(24 * time.Hour)}

	d, err := report.DriversReport(ctx, st, q)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(d.Drivers[0].Signal, "persona = "), d.Drivers[0].Signal)

	data, err := os.ReadFile("../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	res, err := journey.NewLive(st).Apply(ctx, "b2b-saas.yaml", data, "test")
	require.NoError(t, err)
	require.False(t, journey.HasErrors(res.Diagnostics), "%v", res.Diagnostics)
	d, err = report.DriversReport(ctx, st, q)
	require.NoError(t, err)
	for _, dr := range d.Drivers {
		require.NotContains(t, dr.Signal, "persona")
	}
	require.True(t, strings.HasPrefix(d.Drivers[0].Signal, "contract = "), d.Drivers[0].Signal)
	require.Contains(t, d.LeftOut, "persona: excluded by the journey map (health.drivers.exclude_traits)")
}
