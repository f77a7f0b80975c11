package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

// momentReportCmds are the moment analytics reports: scorecards, ideal
// against actual, funnels and time to value (docs/analytics.md).
func momentReportCmds(df *dataFlags) []*cobra.Command {
	var (
		days       int
		funnelDays int
		asCSV      bool
		asJSON     bool
		events     string
		path       string
		by         string
		ttvBy      string
		windowDays int
	)
	output := func(c *cobra.Command) {
		c.Flags().BoolVar(&asCSV, "csv", false, "print CSV instead of a table")
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON (as the API returns it) instead of a table")
	}
	// withMap opens the store and reads the live map, then runs f.
	withMap := func(cmd *cobra.Command, f func(st *store.Store, m *journey.Map, now time.Time) error) error {
		if asCSV && asJSON {
			return fmt.Errorf("choose --csv or --json, not both")
		}
		st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
		if err != nil {
			return err
		}
		defer st.Close()
		m, _, err := journey.NewLive(st).Get(cmd.Context())
		if err != nil && err != journey.ErrNoMap {
			return err
		}
		return f(st, m, time.Now().UTC())
	}
	// emit writes a report as JSON, CSV or the terminal table, as the flags
	// ask.
	emit := func(w io.Writer, v any, csv, table func(io.Writer) error) error {
		switch {
		case asJSON:
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		case asCSV:
			return csv(w)
		}
		return table(w)
	}

	scorecards := &cobra.Command{
		Use:   "scorecards",
		Short: "Every moment's quantity, quality, cost and time over a period, ranked by importance × gap (the one to fix next first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMap(cmd, func(st *store.Store, m *journey.Map, now time.Time) error {
				rep, err := report.Scorecards(cmd.Context(), st, m, days, now)
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), rep,
					func(w io.Writer) error { return report.WriteScorecardsCSV(w, rep) },
					func(w io.Writer) error { return printScorecards(w, rep) })
			})
		},
	}
	ideal := &cobra.Command{
		Use:   "ideal MOMENT",
		Short: "One moment's ideal process against what actually happened, step by step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMap(cmd, func(st *store.Store, m *journey.Map, now time.Time) error {
				sc, err := report.MomentScorecard(cmd.Context(), st, m, args[0], days, now)
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), sc,
					func(w io.Writer) error { return report.WriteIdealCSV(w, sc) },
					func(w io.Writer) error { return printIdeal(w, sc, days) })
			})
		},
	}
	for _, c := range []*cobra.Command{scorecards, ideal} {
		c.Flags().IntVar(&days, "days", report.DefaultDays, "the period: the last this many days, compared with the same length before")
		output(c)
	}

	funnel := &cobra.Command{
		Use:   "funnel",
		Short: "Accounts through ordered events or a success path's milestones, with conversion and median days between steps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMap(cmd, func(st *store.Store, m *journey.Map, now time.Time) error {
				req := report.FunnelRequest{Path: path, Days: funnelDays, WindowDays: windowDays, By: by}
				if events != "" {
					for _, e := range strings.Split(events, ",") {
						req.Events = append(req.Events, strings.TrimSpace(e))
					}
				}
				rep, err := report.Funnel(cmd.Context(), st, m, req, now)
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), rep,
					func(w io.Writer) error { return report.WriteFunnelCSV(w, rep) },
					func(w io.Writer) error { return printFunnel(w, rep) })
			})
		},
	}
	funnel.Flags().StringVar(&events, "events", "", `ordered event names, comma-separated ("Integration Connected,Report Created")`)
	funnel.Flags().StringVar(&path, "path", "", "a success path id whose milestones are the steps (default the map's first path)")
	funnel.Flags().IntVar(&funnelDays, "days", report.DefaultFunnelDays, "accounts whose first step happened in the last this many days enter")
	funnel.Flags().IntVar(&windowDays, "window-days", report.DefaultConversionWindowDays, "a later step counts only within this many days of the first")
	funnel.Flags().StringVar(&by, "by", "", "break down by segment, plan or cohort (the month the contract started)")
	output(funnel)

	ttv := &cobra.Command{
		Use:   "ttv",
		Short: "Time to value as a survival curve: accounts still on their way are counted, not dropped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMap(cmd, func(st *store.Store, m *journey.Map, now time.Time) error {
				by := ttvBy
				if by == "none" {
					by = ""
				}
				rep, err := report.TTV(cmd.Context(), st, m, path, by, now)
				if err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), rep,
					func(w io.Writer) error { return report.WriteTTVCSV(w, rep) },
					func(w io.Writer) error { return printTTV(w, rep) })
			})
		},
	}
	ttv.Flags().StringVar(&path, "path", "", "the success path (default the map's first)")
	ttv.Flags().StringVar(&ttvBy, "by", report.BySegment, "break down by segment, plan or cohort; none for all accounts only")
	output(ttv)
	return []*cobra.Command{scorecards, ideal, funnel, ttv}
}

// pct formats a fraction as a whole percentage, "-" when unknown.
func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v*100, 'f', 0, 64) + "%"
}

// daysText formats days with one decimal, "-" when unknown.
func daysText(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64) + "d"
}

func printScorecards(w io.Writer, rep report.ScorecardReport) error {
	fmt.Fprintf(w, "Moment scorecards, last %d days (%s to %s UTC) against the %d days before; the one to fix next first.\n\n",
		rep.Days, rep.Period.From.Format("2006-01-02"), rep.Period.To.Format("2006-01-02"), rep.Days)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMOMENT\tOWNER\tIMPORTANCE\tCONFORMANCE\tOCCURRENCES\t(PREV)\tACCOUNTS\tMEDIAN\tP90\tNOT REACHED\tSLA\tNO ESCALATION\tSCORE\tCOST/OCC.\tWEAKEST STEP")
	for _, s := range rep.Moments {
		sla := "-"
		if s.Quality.SLA != nil {
			sla = pct(s.Quality.SLA.Share)
		}
		score := "-"
		if s.Quality.Score != nil {
			score = fmt.Sprintf("%.1f (n=%d)", *s.Quality.Score, s.Quality.Answers)
		}
		cost := "-"
		if s.Cost.PerOccurrence != nil {
			cost = fmt.Sprintf("%.0f min", *s.Cost.PerOccurrence)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/20\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Rank, s.Moment, s.Owner, s.Importance,
			pct(s.Conformance.Conformance), s.Occurrences, s.Previous.Occurrences, s.Quantity.Accounts, daysText(s.Time.MedianDays),
			daysText(s.Time.P90Days), pct(s.Time.NotReachedShare), sla, pct(s.Quality.WithoutEscalation.Share), score, cost,
			dash(s.Conformance.MostMissed))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nConformance is the mean on-time share of the observable ideal steps; see `moments report ideal MOMENT` and docs/analytics.md.")
	return nil
}

func printIdeal(w io.Writer, s report.Scorecard, days int) error {
	fmt.Fprintf(w, "%s (%s): the ideal process against %d occurrences in the last %d days.\n\n", s.Name, s.Moment, s.Occurrences, days)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTEP\tOWNER\tWITHIN\tSHOWN BY\tDUE\tDONE\tON TIME\tMEDIAN\tDELAY VS TARGET\tOUT OF ORDER")
	for i, st := range s.Ideal {
		if !st.Observable {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n", i+1, st.Step, st.Owner, dash(st.Within), st.Evidence)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", i+1, st.Step, st.Owner, dash(st.Within), st.Evidence, st.Due,
			pct(st.DoneShare), pct(st.OnTimeShare), daysText(st.MedianDays), daysText(st.MedianDelayDays), st.OutOfOrder)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := s.Conformance
	fmt.Fprintf(w, "\nConformance %s; %s of occurrences had a step out of order.\n", pct(c.Conformance), pct(c.OutOfOrderShare))
	if c.MostMissed != "" {
		fmt.Fprintf(w, "Most often skipped or late: %s.\n", c.MostMissed)
	}
	if c.Slowest != "" {
		fmt.Fprintf(w, "Slowest against its target: %s, owned by %s — the hand-off to look at first.\n", c.Slowest, c.SlowestOwner)
	}
	return nil
}

func printFunnel(w io.Writer, rep report.FunnelReport) error {
	fmt.Fprintf(w, "Funnel (%s), accounts entering in the last %d days, %d-day window; %s.\n\n", rep.Source, rep.Days, rep.WindowDays, rep.Scope)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\t#\tSTEP\tACCOUNTS\tCONVERSION\tFROM PREVIOUS\tMEDIAN DAYS FROM PREVIOUS")
	add := func(group string, steps []report.FunnelStep) {
		for i, st := range steps {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", group, i+1, st.Label, st.Accounts, pct(st.Conversion), pct(st.FromPrevious),
				daysText(st.MedianDays))
		}
	}
	add("all", rep.Steps)
	for _, g := range rep.Groups {
		add(g.Key, g.Steps)
	}
	return tw.Flush()
}

func printTTV(w io.Writer, rep report.TTVReport) error {
	fmt.Fprintf(w, "Time to value on path %s (milestone %s, target %d days), as of %s UTC; accounts not there yet count until today.\n\n",
		rep.Path, rep.Milestone, rep.TargetDays, rep.At.Format("2006-01-02"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tACCOUNTS\tREACHED VALUE\tMEDIAN\tWITHIN TARGET\t95% INTERVAL")
	for _, g := range append([]report.TTVGroup{rep.All}, rep.Groups...) {
		interval := "-"
		if g.WithinTargetLow != nil && g.WithinTargetHigh != nil {
			interval = pct(g.WithinTargetLow) + "–" + pct(g.WithinTargetHigh)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", g.Key, g.Accounts, g.Reached, daysText(g.MedianDays), pct(g.WithinTarget), interval)
	}
	return tw.Flush()
}
