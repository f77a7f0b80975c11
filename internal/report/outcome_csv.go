package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseDays reads a number of days written "60d" or "60".
func ParseDays(field, s string) (int, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "d")
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 || n > MaxHorizonDays {
		return 0, &OutcomeError{Field: field, Err: fmt.Errorf("%q is not a number of days from 0d to %dd (write it like 60d)", s, MaxHorizonDays)}
	}
	return n, nil
}

// DriverColumns are the CSV columns of the drivers report.
var DriverColumns = []string{"signal", "kind", "significant", "direction", "effect", "effect_low", "effect_high",
	"rate_with", "accounts_with", "rate_without", "accounts_without", "lift", "p_value", "q_value"}

// WriteDriversCSV writes the drivers, strongest first, with a header row.
func WriteDriversCSV(w io.Writer, d Drivers) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DriverColumns); err != nil {
		return err
	}
	for _, x := range d.Drivers {
		if err := cw.Write([]string{x.Signal, x.Kind, strconv.FormatBool(x.Significant), x.Direction, fourDecimals(x.Effect), fourDecimals(x.EffectLow),
			fourDecimals(x.EffectHigh), fourDecimals(x.With.Share), strconv.Itoa(x.With.Of), fourDecimals(x.Without.Share), strconv.Itoa(x.Without.Of),
			fourDecimals(x.Lift), fourDecimals(x.PValue), fourDecimals(x.QValue)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// BacktestColumns are the CSV columns of the backtest: one row per decile
// of the score, lowest first.
var BacktestColumns = []string{"decile", "min_score", "max_score", "accounts", "with_outcome", "rate", "rate_low", "rate_high", "lift"}

// WriteBacktestCSV writes the backtest's deciles with a header row.
func WriteBacktestCSV(w io.Writer, b Backtest) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BacktestColumns); err != nil {
		return err
	}
	for _, d := range b.Deciles {
		if err := cw.Write([]string{strconv.Itoa(d.Decile), fourDecimals(d.MinScore), fourDecimals(d.MaxScore), strconv.Itoa(d.Rate.Of),
			strconv.Itoa(d.Rate.Hits), fourDecimals(d.Rate.Share), fourDecimals(d.Rate.Low), fourDecimals(d.Rate.High), fourDecimals(d.Lift)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// fourDecimals formats a figure of the outcome reports for a CSV cell.
func fourDecimals(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
