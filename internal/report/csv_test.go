package report_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/report"
)

// TestCSVCellsAreInert: a cell a spreadsheet would run as a formula (it
// starts with = + - @, a tab or a carriage return) is written with a
// leading apostrophe, so an account named =HYPERLINK(…) is shown, not run;
// numbers, negative ones included, stay numbers.
func TestCSVCellsAreInert(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := report.NewCSVWriter(&buf)
	in := []string{`=HYPERLINK("https://evil.example","Click")`, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "-12.5", "+44", "Acme", "", "a=b"}
	require.NoError(t, w.Write(in))
	w.Flush()
	require.NoError(t, w.Error())
	got, err := csv.NewReader(&buf).Read()
	require.NoError(t, err)
	require.Equal(t, []string{`'=HYPERLINK("https://evil.example","Click")`, "'+1+1", "'-2+3", "'@SUM(A1)", "'\t=1", "'\r=1", "-12.5", "+44", "Acme", "", "a=b"}, got)
}

func TestExceptionsCSVIsInert(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rep := report.ExceptionReport{Exceptions: []report.Exception{{AccountID: "acme", AccountName: "=cmd|' /C calc'!A0"}}}
	require.NoError(t, report.WriteExceptionsCSV(&buf, rep))
	require.Contains(t, buf.String(), `'=cmd|' /C calc'!A0`)
	require.NotContains(t, buf.String(), `,=cmd`)
}
