package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// mapCmd is `moments map`: the journey map as code.
func mapCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "map",
		Short: "Lint, apply, diff and export the journey map (see docs/journey-maps.md)",
	}
	cmd.AddCommand(mapLintCmd(), mapApplyCmd(df), mapDiffCmd(df), mapExportCmd(df), mapHistoryCmd(df))
	return cmd
}

func mapLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE",
		Short: "Check a journey map and list every problem as FILE:LINE:COL: message (exit code 1 on errors)",
		Long: `Check a journey map without applying it. Every problem is listed at once,
one per line as FILE:LINE:COL: message, errors and warnings alike. The exit
code is 1 when there is at least one error, 0 otherwise (warnings alone do
not fail). No database is needed. Use - as FILE to read standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, data, err := readMap(cmd, args[0])
			if err != nil {
				return err
			}
			_, diags := journey.Lint(name, data)
			for _, d := range diags {
				fmt.Fprintln(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", name, summary(diags))
			if journey.HasErrors(diags) {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

func mapApplyCmd(df *dataFlags) *cobra.Command {
	by := currentUser()
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Check a journey map and make it the live version (identical content: no new version)",
		Long: `Check a journey map and, when it has no errors, store it as the next
version of the live map in one transaction. Triggers, playbooks, health and
reports use the new version from then on; runs already started keep the
version they started with. Applying content identical to the live version
creates no new version. Problems are listed as in "moments map lint"; with
any error nothing is applied and the exit code is 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, data, err := readMap(cmd, args[0])
			if err != nil {
				return err
			}
			// Check before opening the database, so a broken file fails
			// fast and never touches it.
			if _, diags := journey.Lint(name, data); journey.HasErrors(diags) {
				return reportBroken(cmd, name, diags, "nothing was applied")
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := journey.NewLive(st).Apply(cmd.Context(), name, data, by)
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("another version of the map was applied at the same moment; run the command again to apply %s on top of it", name)
			}
			if err != nil {
				return err
			}
			if journey.HasErrors(res.Diagnostics) { // cannot happen: linted above
				return reportBroken(cmd, name, res.Diagnostics, "nothing was applied")
			}
			printDiags(cmd.ErrOrStderr(), res.Diagnostics)
			out := cmd.OutOrStdout()
			if !res.Changed {
				fmt.Fprintf(out, "no change: %s is identical to live version %d; nothing was applied\n", name, res.Version)
				return nil
			}
			auth.NewAudit(st, nil).Record(cliContext(cmd), auth.AuditMapApplied, fmt.Sprintf("version %d", res.Version),
				fmt.Sprintf("applied %s (by %s): %d changes", name, by, len(res.Changes)))
			fmt.Fprintf(out, "applied %s as version %d (applied by %s)\n", name, res.Version, by)
			fmt.Fprint(out, journey.FormatChanges(res.Changes))
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", by, "who applies the map, recorded in its history")
	return cmd
}

func mapDiffCmd(df *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "diff [OLD] FILE",
		Short: "Show what applying FILE would change against the live map (or against OLD), moment by moment",
		Long: `Show what applying FILE would change against the live version, moment by
moment, without applying anything. With two files, compare OLD with FILE
and use no database. The exit code is 0 whether or not anything changes,
and 1 when a file has errors (they are listed as in "moments map lint").`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 2 {
				oldName, oldData, err := readMap(cmd, args[0])
				if err != nil {
					return err
				}
				newName, newData, err := readMap(cmd, args[1])
				if err != nil {
					return err
				}
				oldMap, oldDiags := journey.Lint(oldName, oldData)
				newMap, newDiags := journey.Lint(newName, newData)
				if journey.HasErrors(oldDiags) {
					return reportBroken(cmd, oldName, oldDiags, "fix it to compare")
				}
				if journey.HasErrors(newDiags) {
					return reportBroken(cmd, newName, newDiags, "fix it to compare")
				}
				printDiags(cmd.ErrOrStderr(), newDiags)
				fmt.Fprintf(out, "changes from %s to %s:\n", oldName, newName)
				fmt.Fprint(out, journey.FormatChanges(journey.Diff(oldMap, newMap)))
				return nil
			}
			name, data, err := readMap(cmd, args[0])
			if err != nil {
				return err
			}
			if _, diags := journey.Lint(name, data); journey.HasErrors(diags) {
				return reportBroken(cmd, name, diags, "fix it to compare")
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := journey.NewLive(st).Preview(cmd.Context(), name, data)
			if err != nil {
				return err
			}
			printDiags(cmd.ErrOrStderr(), res.Diagnostics)
			switch {
			case res.Version == 0:
				fmt.Fprintf(out, "no journey map is live yet; applying %s would create version 1 with:\n", name)
			case !res.Changed:
				fmt.Fprintf(out, "no changes: %s is identical to live version %d\n", name, res.Version)
				return nil
			default:
				fmt.Fprintf(out, "changes from live version %d to %s:\n", res.Version, name)
			}
			fmt.Fprint(out, journey.FormatChanges(res.Changes))
			return nil
		},
	}
}

func mapExportCmd(df *dataFlags) *cobra.Command {
	var version int
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the live journey map (or --version N) to stdout as YAML",
		Long: `Write the live journey map to standard output as canonical YAML: what its
author wrote, without defaults or comments, ready to edit and apply again
(applying it unchanged is "no change"). --version N writes an older version;
"moments map history" lists them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("version") && version < 1 {
				return fmt.Errorf("--version must be a version number from 1 up; see `moments map history`")
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			live := journey.NewLive(st)
			var m *journey.Map
			if version > 0 {
				m, err = live.Version(cmd.Context(), version)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("there is no version %d of the journey map; see `moments map history`", version)
				}
			} else {
				m, _, err = live.Get(cmd.Context())
			}
			if err != nil {
				return err
			}
			text, err := journey.Marshal(m)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(text)
			return err
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to export (default: the live one)")
	return cmd
}

func mapHistoryCmd(df *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "history",
		Short: "List the versions of the journey map: who applied them, when, from which file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			versions, err := st.JourneyVersions(cmd.Context())
			if err != nil {
				return err
			}
			if len(versions) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), journey.ErrNoMap)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tAPPLIED AT\tAPPLIED BY\tSOURCE\tHASH")
			for i, v := range versions {
				number := strconv.Itoa(v.Number)
				if i == 0 {
					number += " (live)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", number, v.AppliedAt.Local().Format("2006-01-02 15:04 MST"),
					orDash(v.AppliedBy), orDash(v.Source), v.Hash[:min(12, len(v.Hash))])
			}
			return tw.Flush()
		},
	}
}

// readMap reads a journey map file ("-" is standard input) and returns the
// name to show in diagnostics. It reads at most one byte past the size limit,
// so that lint reports an oversized file instead of loading all of it.
func readMap(cmd *cobra.Command, path string) (string, []byte, error) {
	var r io.Reader
	name := path
	if path == "-" {
		r, name = cmd.InOrStdin(), "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", nil, fmt.Errorf("cannot read the journey map: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, journey.MaxMapSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the journey map %s: %w", name, err)
	}
	return name, data, nil
}

// reportBroken lists a map's problems on stderr and fails with exit code 1.
// outcome says what did not happen, such as "nothing was applied".
func reportBroken(cmd *cobra.Command, name string, diags []journey.Diagnostic, outcome string) error {
	printDiags(cmd.ErrOrStderr(), diags)
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s; %s\n", name, summary(diags), outcome)
	return exitError{code: 1}
}

func printDiags(w io.Writer, diags []journey.Diagnostic) {
	for _, d := range diags {
		fmt.Fprintln(w, d)
	}
}

// summary counts errors and warnings, as "2 errors, 1 warning".
func summary(diags []journey.Diagnostic) string {
	var errs, warns int
	for _, d := range diags {
		if d.Severity == journey.SeverityWarning {
			warns++
		} else {
			errs++
		}
	}
	if errs+warns == 0 {
		return "no problems found"
	}
	return plural(errs, "error") + ", " + plural(warns, "warning")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// currentUser names the person running the command, for "applied by".
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
