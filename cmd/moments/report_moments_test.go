package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// TestReportMomentCommands runs the moment analytics reports on a store
// with the example map: tables, CSV, JSON and the errors a user meets.
func TestReportMomentCommands(t *testing.T) {
	t.Parallel()
	db := dbArgs(t, store.SQLite)
	report := func(args ...string) result {
		t.Helper()
		return run(t, "", append(append([]string{"report"}, args...), db...)...)
	}
	res := report("scorecards")
	require.Error(t, res.err)
	require.Contains(t, res.err.Error(), "moments map apply")

	require.NoError(t, run(t, "", append([]string{"map", "apply", examplePath}, db...)...).err)
	res = report("scorecards")
	require.NoError(t, res.err, res.stderr)
	require.Contains(t, res.stdout, "Moment scorecards, last 90 days")
	require.Contains(t, res.stdout, "contract_signed")

	res = report("scorecards", "--json", "--days", "30")
	require.NoError(t, res.err)
	var rep struct {
		Days    int `json:"days"`
		Moments []struct {
			Moment string `json:"moment"`
			Ideal  []struct {
				Step string `json:"step"`
			} `json:"ideal"`
		} `json:"moments"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	require.Equal(t, 30, rep.Days)
	require.Len(t, rep.Moments, 21)

	res = report("ideal", "contract_signed", "--csv")
	require.NoError(t, res.err)
	require.Equal(t, 5, strings.Count(res.stdout, "\n"), res.stdout) // header and four steps
	require.Contains(t, res.stdout, "event: Kickoff Held")

	res = report("funnel", "--by", "segment")
	require.NoError(t, res.err)
	require.Contains(t, res.stdout, "path:smb_self_serve")
	res = report("ttv", "--by", "none")
	require.NoError(t, res.err)
	require.Contains(t, res.stdout, "Time to value on path smb_self_serve")

	for _, bad := range [][]string{{"scorecards", "--days", "0"}, {"ideal", "nope"}, {"funnel", "--by", "region"},
		{"funnel", "--events", "A", "--path", "smb_self_serve"}, {"scorecards", "--csv", "--json"}} {
		res = report(bad...)
		require.Error(t, res.err, bad)
	}
}
