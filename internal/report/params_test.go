package report_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/report"
)

// TestReportParamsNameTheField checks that each bad parameter is refused
// with the field a user must fix.
func TestReportParamsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		field string
		parse func(url.Values) error
	}{
		{"days=abc", "days", scorecard},
		{"days=0", "days", scorecard},
		{"days=4000", "days", scorecard},
		{"events=A,,B", "events", funnel},
		{"events=A&path=main", "path", funnel},
		{"window_days=-1", "window_days", funnel},
		{"by=region", "by", funnel},
		{"by=region", "by", ttv},
	}
	for _, tc := range tests {
		q, err := url.ParseQuery(tc.query)
		require.NoError(t, err)
		err = tc.parse(q)
		var pe *report.ParamError
		require.True(t, errors.As(err, &pe), "%s: %v", tc.query, err)
		require.Equal(t, tc.field, pe.Field, tc.query)
	}
	days, err := report.ScorecardParams(url.Values{})
	require.NoError(t, err)
	require.Equal(t, report.DefaultDays, days)
	req, err := report.FunnelParams(url.Values{"events": {"Integration Connected, Report Created"}, "by": {"cohort"}})
	require.NoError(t, err)
	require.Equal(t, []string{"Integration Connected", "Report Created"}, req.Events)
	require.Equal(t, report.DefaultConversionWindowDays, req.WindowDays)
	_, by, err := report.TTVParams(url.Values{"by": {"none"}})
	require.NoError(t, err)
	require.Empty(t, by)
}

func scorecard(q url.Values) error { _, err := report.ScorecardParams(q); return err }
func funnel(q url.Values) error    { _, err := report.FunnelParams(q); return err }
func ttv(q url.Values) error       { _, _, err := report.TTVParams(q); return err }
