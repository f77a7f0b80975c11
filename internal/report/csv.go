package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// CSVWriter writes CSV whose cells a spreadsheet never runs as formulas.
// Every CSV the product writes goes through it: account names, owners and
// traits come from the tracking API, so anyone holding the public write
// key could otherwise plant =HYPERLINK(…) or =cmd|… in a report that a CS
// lead opens in Excel.
type CSVWriter struct{ w *csv.Writer }

// NewCSVWriter returns a CSVWriter on w.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: csv.NewWriter(w)} }

// Write writes one record, each cell made inert by InertCell.
func (c *CSVWriter) Write(record []string) error {
	safe := make([]string, len(record))
	for i, v := range record {
		safe[i] = InertCell(v)
	}
	return c.w.Write(safe)
}

// Flush writes any buffered data.
func (c *CSVWriter) Flush() { c.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (c *CSVWriter) Error() error { return c.w.Error() }

// InertCell prefixes with an apostrophe a cell that starts with = + - @, a
// tab or a carriage return, which spreadsheets treat as the start of a
// formula (OWASP's advice). A number, negative or signed, is left alone.
func InertCell(v string) string {
	if v == "" || !strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return "'" + v
}
