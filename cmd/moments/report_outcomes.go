package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

// outcomeFlags are the flags of the reports on outcomes.
type outcomeFlags struct {
	outcome string
	horizon string
	gap     string
	window  string
	asCSV   bool
	asJSON  bool
}

func (o *outcomeFlags) bind(c *cobra.Command, horizon, gap bool) {
	c.Flags().StringVar(&o.outcome, "outcome", report.DefaultOutcome, "the outcome, a CEL condition over account")
	if horizon {
		c.Flags().StringVar(&o.horizon, "horizon", fmt.Sprintf("%dd", report.DefaultHorizonDays), "read the score this long before each outcome (0d: the scores as they stand now)")
	}
	if gap {
		c.Flags().StringVar(&o.gap, "gap", fmt.Sprintf("%dd", report.DefaultGapDays), "stop counting behaviours this long before each outcome")
		c.Flags().StringVar(&o.window, "window", fmt.Sprintf("%dd", report.DefaultWindowDays), "count behaviours over this many days before the gap")
	}
	c.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
}

func (o *outcomeFlags) query() (report.OutcomeQuery, error) {
	q := report.OutcomeQuery{Outcome: o.outcome, Now: time.Now().UTC()}
	var err error
	if o.horizon != "" {
		if q.HorizonDays, err = report.ParseDays("horizon", o.horizon); err != nil {
			return q, err
		}
	}
	if o.gap != "" {
		if q.GapDays, err = report.ParseDays("gap", o.gap); err != nil {
			return q, err
		}
	}
	if o.window != "" {
		if q.WindowDays, err = report.ParseDays("window", o.window); err != nil {
			return q, err
		}
	}
	return q, nil
}

// outcomeCommands returns `report drivers` and `report backtest`.
func outcomeCommands(df *dataFlags) []*cobra.Command {
	var dr, bt outcomeFlags
	drivers := &cobra.Command{
		Use:   "drivers",
		Short: "Which account traits and behaviours go with an outcome (churn by default), with significance control",
		Long: "Test every account trait (categories level by level, numbers by rank) and every behaviour per 30 days " +
			"(measured before the outcome, leaving a gap) against the outcome; signals are significant after " +
			"false-discovery-rate control (Benjamini–Hochberg, 5 %). Correlation is not cause.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := dr.query()
			if err != nil {
				return err
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			d, err := report.DriversReport(cmd.Context(), st, q)
			if err != nil {
				return refusal(err)
			}
			switch {
			case dr.asJSON:
				return printJSON(cmd.OutOrStdout(), d)
			case dr.asCSV:
				return report.WriteDriversCSV(cmd.OutOrStdout(), d)
			}
			return printDrivers(cmd.OutOrStdout(), d)
		},
	}
	dr.bind(drivers, false, true)
	drivers.Flags().BoolVar(&dr.asCSV, "csv", false, "print CSV instead of a table")

	backtest := &cobra.Command{
		Use:   "backtest",
		Short: "How well the health score, as it stood before each outcome, predicted it",
		Long: "Rebuild each account's health as it stood --horizon before its outcome (before now for the others) from " +
			"its stored events, and report the AUC, the precision and recall of the at-risk quadrant and of the " +
			"exception flags, the lift of the lowest-scored tenth, the share of churners flagged 60 days before, " +
			"and a calibration table.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := withApp(cmd, df, &bt, report.BacktestReport)
			if err != nil {
				return err
			}
			switch {
			case bt.asJSON:
				return printJSON(cmd.OutOrStdout(), b)
			case bt.asCSV:
				return report.WriteBacktestCSV(cmd.OutOrStdout(), b)
			}
			return printBacktest(cmd.OutOrStdout(), b)
		},
	}
	bt.bind(backtest, true, false)
	backtest.Flags().BoolVar(&bt.asCSV, "csv", false, "print the deciles as CSV")
	return []*cobra.Command{drivers, backtest}
}

// calibrateCommand returns `health calibrate`.
func calibrateCommand(df *dataFlags) *cobra.Command {
	var o outcomeFlags
	c := &cobra.Command{
		Use:   "calibrate",
		Short: "Propose health weights fitted to your own outcomes (nothing changes until you apply them)",
		Long: "Fit the component weights to the outcome with a cross-validated, regularised logistic regression on the " +
			"components as they stood --horizon before each outcome, and print the held-out AUC of the fitted weights " +
			"beside the current weights' on the same accounts, and a health: section to paste into the journey map. " +
			"Nothing changes until the map is applied.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cal, err := withApp(cmd, df, &o, report.CalibrationReport)
			if err != nil {
				return err
			}
			if o.asJSON {
				return printJSON(cmd.OutOrStdout(), cal)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Outcome %s: %d accounts, %d with it; scores %d days before. Left out: %d where the outcome cannot be evaluated, %d not yet customers then.\n",
				cal.Outcome, cal.Accounts, cal.Positives, cal.Horizon, cal.Excluded, cal.NotYet)
			fmt.Fprintf(w, "On accounts held out of the fit (%d folds): AUC %.3f with the fitted weights, %.3f with the current ones.\n\n",
				cal.Folds, cal.HoldoutAUC, cal.DefaultAUC)
			fmt.Fprintln(w, cal.Note)
			fmt.Fprintf(w, "\nProposed health section:\n\n%s", cal.Section)
			return nil
		},
	}
	o.bind(c, true, false)
	return c
}

// withApp opens the store, assembles the installation (for its health
// tracker) and runs a report on outcomes.
func withApp[T any](cmd *cobra.Command, df *dataFlags, o *outcomeFlags,
	run func(context.Context, *store.Store, *tracker.Tracker, report.OutcomeQuery) (T, error)) (T, error) {
	var zero T
	q, err := o.query()
	if err != nil {
		return zero, err
	}
	a, err := df.openApp(cmd.Context())
	if err != nil {
		return zero, err
	}
	defer a.Store.Close()
	out, err := run(cmd.Context(), a.Store, a.Health, q)
	if err != nil {
		return zero, refusal(err)
	}
	return out, nil
}

// refusal words a refusal for too few outcomes as the answer it is.
func refusal(err error) error {
	if errors.Is(err, report.ErrTooFewOutcomes) {
		return fmt.Errorf("%w. Outcomes come from account traits: check the --outcome condition, or wait for more renewals and churns", err)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printDrivers(w io.Writer, d report.Drivers) error {
	fmt.Fprintf(w, "Outcome %s: %d accounts, %d with it, %d left out (cannot be evaluated).\n", d.Outcome, d.Accounts, d.Positives, d.Excluded)
	fmt.Fprintf(w, "Behaviours per 30 days over the %d days ending %d days before each outcome. %d signals tested.\n", d.WindowDays, d.GapDays, d.Tested)
	fmt.Fprintf(w, "%s\n\n", d.Warning)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNAL\tSIGNIFICANT\tEFFECT (95% CI)\tRATE WITH\tRATE WITHOUT\tLIFT\tQ")
	for _, x := range d.Drivers {
		sig := "no"
		if x.Significant {
			sig = "yes, " + x.Direction
		}
		fmt.Fprintf(tw, "%s\t%s\t%+.0f pts (%+.0f to %+.0f)\t%.0f%% of %d\t%.0f%% of %d\t%.2f\t%.3f\n", x.Signal, sig,
			100*x.Effect, 100*x.EffectLow, 100*x.EffectHigh, 100*x.With.Share, x.With.Of, 100*x.Without.Share, x.Without.Of, x.Lift, x.QValue)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range d.LeftOut {
		fmt.Fprintf(w, "left out: %s\n", l)
	}
	return nil
}

func printBacktest(w io.Writer, b report.Backtest) error {
	fmt.Fprintf(w, "Outcome %s: %d accounts, %d with it; scores as they stood %d days before.\n", b.Outcome, b.Accounts, b.Positives, b.Horizon)
	fmt.Fprintf(w, "Left out: %d where the outcome cannot be evaluated, %d not yet customers then (no events).\n\n", b.Excluded, b.NotYet)
	fmt.Fprintf(w, "AUC %.3f (95%% CI %.3f to %.3f): the chance an account with the outcome scored lower than one without.\n", b.AUC, b.AUCLow, b.AUCHigh)
	pr := func(name string, p report.PrecisionRecall) {
		fmt.Fprintf(w, "%s: %d flagged; %.0f%% of them had the outcome (precision); they include %.0f%% of all that had it (recall).\n",
			name, p.Flagged, 100*p.Precision.Share, 100*p.Recall.Share)
	}
	pr("At-risk quadrant", b.AtRisk)
	pr("Exception flags (at risk, low health, declining usage, sponsor left)", b.Exceptions)
	fmt.Fprintf(w, "Lowest tenth of scores: %.1f× the outcome rate of all accounts.\n", b.LowestDecileLift)
	fmt.Fprintf(w, "Flagged %d days before the outcome: %d of %d (%.0f%%).\n\n", b.FlaggedBeforeDays, b.FlaggedBefore.Hits, b.FlaggedBefore.Of, 100*b.FlaggedBefore.Share)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SCORE BAND\tACCOUNTS\tWITH OUTCOME\tRATE (95% CI)\t")
	for _, band := range b.Calibration {
		fmt.Fprintf(tw, "%d–%d\t%d\t%d\t%.0f%% (%.0f–%.0f)\t\n", band.From, band.To, band.Rate.Of, band.Rate.Hits,
			100*band.Rate.Share, 100*band.Rate.Low, 100*band.Rate.High)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", b.Caveat)
	return nil
}
