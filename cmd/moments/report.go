package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

func reportCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Print reports: exceptions, health, surveys, moment scorecards, ideal against actual, funnels, time to value, drivers of an outcome, backtest of the health score"}
	var (
		f      store.HealthFilter
		behind int
		limit  int
		asCSV  bool
	)
	exceptions := &cobra.Command{
		Use:   "exceptions",
		Short: "Accounts off their success path, with a usage gap, an overdue task or a falling score, ranked by ARR at risk and renewal proximity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if behind < 1 {
				return fmt.Errorf("--behind-days must be at least 1, got %d", behind)
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := report.Exceptions(cmd.Context(), st, report.ExceptionFilter{HealthFilter: f, BehindDays: behind, Limit: limit},
				time.Now().UTC())
			if err != nil {
				return err
			}
			if asCSV {
				return report.WriteExceptionsCSV(cmd.OutOrStdout(), rep)
			}
			return printExceptions(cmd.OutOrStdout(), rep)
		},
	}
	flags := func(c *cobra.Command) {
		c.Flags().StringVar(&f.Owner, "owner", "", "only accounts of this owner CSM")
		c.Flags().StringVar(&f.Segment, "segment", "", "only accounts of this segment")
		c.Flags().StringVar(&f.Stage, "stage", "", "only accounts in this lifecycle stage")
		c.Flags().BoolVar(&asCSV, "csv", false, "print CSV instead of a table")
	}
	flags(exceptions)
	exceptions.Flags().IntVar(&behind, "behind-days", report.DefaultBehindDays, "days behind the success path that make an account off its path")
	exceptions.Flags().IntVar(&limit, "limit", 0, "print at most this many accounts (default all)")

	healthReport := &cobra.Command{
		Use:   "health",
		Short: "Accounts and ARR per health quadrant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := report.Health(cmd.Context(), st, f, time.Now().UTC())
			if err != nil {
				return err
			}
			if asCSV {
				return report.WriteHealthCSV(cmd.OutOrStdout(), rep)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "QUADRANT\tACCOUNTS\tARR\t")
			for _, q := range rep.Quadrants {
				fmt.Fprintf(tw, "%s\t%d\t%s\t\n", q.Label, q.Accounts, money(q.ARR))
			}
			fmt.Fprintf(tw, "total\t%d\t%s\t\n", rep.Accounts, money(rep.ARR))
			return tw.Flush()
		},
	}
	flags(healthReport)
	cmd.AddCommand(exceptions, healthReport, surveyReportCmd(df))
	cmd.AddCommand(momentReportCmds(df)...)
	cmd.AddCommand(outcomeCommands(df)...)
	return cmd
}

// printExceptions prints the report as an aligned table.
func printExceptions(w io.Writer, rep report.ExceptionReport) error {
	if rep.Total == 0 {
		fmt.Fprintln(w, "No exceptions: every account is on its success path, using the product, without overdue tasks and holding its score.")
		return nil
	}
	fmt.Fprintf(w, "%d %s need attention (as of %s UTC), most urgent first: ARR at risk × renewal proximity.\n\n",
		rep.Total, pluralWord(rep.Total, "account", "accounts"), rep.At.Format("2006-01-02 15:04"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACCOUNT\tOWNER\tSEGMENT\tSTAGE\tARR AT RISK\tRENEWAL\tQUADRANT\tWHY")
	for _, e := range rep.Exceptions {
		renewal := "unknown"
		if e.DaysToRenewal != nil {
			renewal = fmt.Sprintf("in %d days", *e.DaysToRenewal)
			if *e.DaysToRenewal < 0 {
				renewal = fmt.Sprintf("%d days ago", -*e.DaysToRenewal)
			}
		}
		name := e.AccountName
		if name == "" {
			name = e.AccountID
		}
		var why []string
		for _, r := range e.Reasons {
			why = append(why, r.Text)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Rank, name, dash(e.Owner), dash(e.Segment), dash(e.Stage),
			money(e.ARRAtRisk), renewal, report.QuadrantLabel(e.Quadrant), strings.Join(why, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Exceptions) < rep.Total {
		fmt.Fprintf(w, "\n… and %d more; raise --limit to see them.\n", rep.Total-len(rep.Exceptions))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// money writes an amount with thousands separators and no cents.
func money(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func healthCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "health", Short: "Maintain account health"}
	recompute := &cobra.Command{
		Use:   "recompute",
		Short: "Rebuild every account's health from its events now (the server also does this once a day)",
		Long: "Bring every account's health aggregate up to date with its stored events (from the base the previous " +
			"recompute kept, or from all its events after a change of the health model), rescore it with the live journey map's " +
			"health model and write today's trend row. Run it after changing the health model or success paths. " +
			"It is safe while the server ingests events.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := df.openApp(cmd.Context())
			if err != nil {
				return err
			}
			defer a.Store.Close()
			stats, err := a.Health.Recompute(cmd.Context())
			if err != nil {
				return fmt.Errorf("recompute health (%d accounts done): %w", stats.Accounts, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Recomputed the health of %d accounts (%d rebuilt from all their events) from %d events read in %s.\n",
				stats.Accounts, stats.Rebuilt, stats.Events, stats.Duration.Round(time.Millisecond))
			if stats.Milestones > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d success path milestones newly reached and recorded.\n", stats.Milestones)
			}
			return nil
		},
	}
	var (
		replace  bool
		accounts []string
	)
	rebuild := &cobra.Command{
		Use:   "rebuild-history",
		Short: "Rebuild the daily health history from the stored events (after importing past events)",
		Long: "Score every account (or those named with --account) as it stood at the start of every past day, from " +
			"the events stored before that day, with the live journey map's health model, and keep those days in the " +
			"health history that the backtest and the trend charts read. Days written as they passed are kept unless " +
			"--replace is given. The server does this by itself within minutes of an import of past events; running it " +
			"again gives the same history. It is safe while the server ingests events.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := df.openApp(cmd.Context())
			if err != nil {
				return err
			}
			defer a.Store.Close()
			o := tracker.RebuildOptions{Replace: replace}
			if len(accounts) > 0 {
				o.Accounts = accounts
			}
			stats, err := a.Health.RebuildHistory(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("rebuild the health history (%d accounts done): %w", stats.Accounts, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rebuilt %d days of health history for %d accounts from %d events in %s.\n",
				stats.Days, stats.Accounts, stats.Events, stats.Duration.Round(time.Millisecond))
			return nil
		},
	}
	rebuild.Flags().BoolVar(&replace, "replace", false, "also rewrite the days written as they passed, with today's health model")
	rebuild.Flags().StringSliceVar(&accounts, "account", nil, "rebuild only these accounts (repeat, or separate with commas)")
	cmd.AddCommand(recompute, rebuild, calibrateCommand(df))
	return cmd
}

// surveyReportCmd prints the survey report: NPS, CSAT and CES by moment,
// stage, segment and month with sample sizes and 95 % intervals, response
// per moment, the closing of the loop on low answers and the comments.
func surveyReportCmd(df *dataFlags) *cobra.Command {
	var (
		from, to string
		days     int
		asCSV    bool
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "surveys",
		Short: "Survey results (NPS, CSAT, CES) with 95 % intervals, response rates, closing the loop on detractors, comments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			end, start := now.Add(time.Second), now.AddDate(0, 0, -days)
			var err error
			if from != "" {
				if start, err = time.Parse(time.DateOnly, from); err != nil {
					return fmt.Errorf("--from %q must be a date such as 2026-01-31", from)
				}
			}
			if to != "" {
				if end, err = time.Parse(time.DateOnly, to); err != nil {
					return fmt.Errorf("--to %q must be a date such as 2026-01-31", to)
				}
			}
			if !start.Before(end) {
				return fmt.Errorf("--from must be before --to")
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			// The live map gives each moment its stage; without one the
			// report still has every other dimension.
			m, _, err := journey.NewLive(st).Get(cmd.Context())
			if err != nil && !errors.Is(err, journey.ErrNoMap) {
				return err
			}
			rep, err := report.SurveyReportFor(cmd.Context(), st, m, start, end, nil)
			if err != nil {
				return err
			}
			switch {
			case asCSV:
				return report.WriteSurveyCSV(cmd.OutOrStdout(), rep)
			case asJSON:
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return report.WriteSurveyText(cmd.OutOrStdout(), rep)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD); default --days before today")
	cmd.Flags().StringVar(&to, "to", "", "day after the last (YYYY-MM-DD); default now")
	cmd.Flags().IntVar(&days, "days", 90, "days before today to cover when --from is not given")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print the scores table as CSV")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole report as JSON")
	return cmd
}
